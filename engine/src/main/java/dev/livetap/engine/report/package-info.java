/** Small building blocks of human-readable and JSON reports: percentiles and aligned tables. */
package dev.livetap.engine.report;
