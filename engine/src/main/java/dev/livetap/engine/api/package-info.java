/**
 * livetap's embedding API, the only package a control plane needs: {@link dev.livetap.engine.api.LivetapEngine}
 * (in its own or the embedder's ActorSystem) creates {@link dev.livetap.engine.api.VirtualMachine}s, driven
 * with typed options and answering with typed results; {@link dev.livetap.engine.api.VirtualMachine#migrate}
 * returns a {@link dev.livetap.engine.api.MigrationHandle}; events come as a sealed
 * {@link dev.livetap.engine.api.VmEvent} hierarchy, to a listener or as a Pekko Streams {@code Source}.
 */
package dev.livetap.engine.api;
