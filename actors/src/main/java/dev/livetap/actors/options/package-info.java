/** QEMU-compatible options (TAP netdev, virtio-net device, machine types, migration parameters, capabilities, URIs) and their validation, with QEMU's error texts. */
package dev.livetap.actors.options;
