/** The migration itself: source and target coordinators, the return path, the channel connector and script runner the engine supplies. */
package dev.livetap.actors.migration;
