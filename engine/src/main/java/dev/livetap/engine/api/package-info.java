/**
 * The embedding API: {@link dev.livetap.engine.api.LivetapEngine} owns one ActorSystem and the
 * process's OS; {@link dev.livetap.engine.api.VirtualMachine} drives one VM endpoint with
 * CompletionStage-returning methods that map 1:1 to QMP commands. The option types are those of
 * {@code dev.livetap.actors.options} (on the compile class path of {@code livetap-engine}).
 */
package dev.livetap.engine.api;
