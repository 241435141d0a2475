/*-------------------------------------------------------------------------
 *
 * stock.h
 *	  Stock reservations: commit and release of an order's reservation.
 *
 * IDENTIFICATION
 *	  src/stock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PAYCONS_STOCK_H
#define PAYCONS_STOCK_H

/* Limits, in bytes or items (documented in doc/worker.md) */
#define PAYCONS_MAX_SKU			64
#define PAYCONS_MAX_ITEMS		1000

/* Callers are connected to SPI and run as the owner */
extern bool PayconsStockCommit(const char *order_id);
extern bool PayconsStockRelease(const char *order_id);

#endif							/* PAYCONS_STOCK_H */
