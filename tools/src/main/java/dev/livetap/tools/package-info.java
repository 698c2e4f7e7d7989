/** The {@code livetap} command line: a picocli root command that other modules extend through a ServiceLoader SPI. */
package dev.livetap.tools;
