package dev.livetap.engine.qmp;

/** The QMP error classes livetap uses, spelled as QEMU sends them in {@code error.class}. */
public enum QmpErrorClass {
    /** Everything without a more specific class (QEMU's default). */
    GenericError,
    /** Unknown command, or any command but {@code qmp_capabilities} before negotiation. */
    CommandNotFound,
    /** A device or netdev id that does not exist ({@code device_del}, {@code netdev_del}). */
    DeviceNotFound,
    /** The device exists but is not in a state that allows the request. */
    DeviceNotActive
}
