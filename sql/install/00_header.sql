/*
 * paycons install script.  Built by `make` from the fragments in
 * sql/install/, in file-name order; edit the fragments, not the built file.
 */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION paycons" to load this file. \quit
