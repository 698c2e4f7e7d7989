package dev.livetap.nativeio.linux;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;

/**
 * Per-thread native buffers for the hot paths, so that sendmsg/recvmsg/read/write/ioctl allocate
 * nothing per call. Structs are written at explicit x86_64 offsets (stack.md), not by JNA
 * Structure reflection.
 */
final class Scratch {
    /** Heap ByteBuffers are staged through this many bytes per call (a TAP frame with headers fits). */
    static final int DATA_BYTES = 65536 + 256;
    static final int CONTROL_BYTES = LinuxC.cmsgSpace(4 * 253);

    private static final ThreadLocal<Scratch> LOCAL = ThreadLocal.withInitial(Scratch::new);

    final Memory msg = new Memory(56);
    final Memory iov = new Memory(16);
    final Memory control = new Memory(CONTROL_BYTES);
    /** ifreq (40 B), struct stat (144 B), ucred, ints, epoll_event, sockaddr_un (110 B). */
    final Memory small = new Memory(256);
    final Memory smallLen = new Memory(8);
    final Memory data = new Memory(DATA_BYTES);
    final long iovAddress = Pointer.nativeValue(iov);
    final long controlAddress = Pointer.nativeValue(control);
    final long dataAddress = Pointer.nativeValue(data);

    private Scratch() {
    }

    static Scratch get() {
        return LOCAL.get();
    }
}
