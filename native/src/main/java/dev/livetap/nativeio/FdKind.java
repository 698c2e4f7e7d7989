package dev.livetap.nativeio;

/** What fstat says a descriptor is. */
public enum FdKind {
    /** Character device 10:200: /dev/net/tun. */
    TUN,
    OTHER_CHAR_DEVICE,
    SOCKET,
    PIPE,
    REGULAR_FILE,
    DIRECTORY,
    OTHER
}
