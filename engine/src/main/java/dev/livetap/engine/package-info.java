/** The public embedding API, the QMP server, the VMM host process and the command line. */
package dev.livetap.engine;
