/** The VMM host process: VM endpoints behind QMP sockets ({@code livetap vmm}). */
package dev.livetap.engine.vmm;
