package dev.livetap.nativeio;

/** TUNGETIFF of one queue fd: the interface name and the flags (IFF_DETACH_QUEUE set on a detached queue). */
public record TunInfo(String name, int flags) {
    public boolean detached() {
        return (flags & TunFlags.IFF_DETACH_QUEUE) != 0;
    }
}
