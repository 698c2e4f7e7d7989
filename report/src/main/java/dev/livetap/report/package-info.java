/** Small building blocks of human-readable, HTML and JSON reports: percentiles, aligned tables and the one SVG chart writer (used by the simulation and the real-host harness alike). */
package dev.livetap.report;
