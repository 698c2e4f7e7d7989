/** Supervised Pekko Typed state machines of a local migration: TapActor, VirtioNetActor, MigrationCoordinator. */
package dev.livetap.actors;
