/*
 * paycons--0.1.0--0.2.0.sql -- upgrade from 0.1.0 (the first release) to
 * 0.2.0.
 *
 * Every schema change of the 0.2.0 round lands here as well as in the
 * install fragments under sql/install/; the upgrade test
 * (test/t/... and `make test`) checks that an upgraded 0.1.0 database and a
 * fresh 0.2.0 install end up with the same schema.  Sections are kept per
 * concern (one per issue) so that parallel work merges cleanly.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION paycons UPDATE TO '0.2.0'" to load this file. \quit
