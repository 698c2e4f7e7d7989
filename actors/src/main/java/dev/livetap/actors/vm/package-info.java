/** The VM endpoint actor: run state, netdevs, NICs, migration parameters and the typed protocol behind QMP. */
package dev.livetap.actors.vm;
