/** The TAP backend's collaborators: the vhost-net interface, its kernel and recording implementations, and their error texts. */
package dev.livetap.actors.tap;
