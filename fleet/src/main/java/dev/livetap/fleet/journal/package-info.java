/**
 * The coordinator's journal database: H2 in a file (one machine) or PostgreSQL (survives losing a
 * machine), its credentials, livetap's own PostgreSQL DDL, the reader of the coordinator's rows, and a
 * throw-away PostgreSQL server for tests and the journal bench.
 */
package dev.livetap.fleet.journal;
