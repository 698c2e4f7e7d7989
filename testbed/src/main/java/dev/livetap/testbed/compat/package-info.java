/** The stream-compatibility policy checked against a real previous livetap build (scripts/compat-check). */
package dev.livetap.testbed.compat;
