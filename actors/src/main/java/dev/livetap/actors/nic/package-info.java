/** The virtio-net frontend (one VirtioNetActor per NIC) and the backend-neutral peer protocol it drives. */
package dev.livetap.actors.nic;
