/** Small building blocks of human-readable, HTML and JSON reports: percentiles, aligned tables and the one SVG chart writer. */
package dev.livetap.engine.report;
