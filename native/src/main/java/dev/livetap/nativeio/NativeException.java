package dev.livetap.nativeio;

/**
 * A failed system call: names the call, what it was applied to, and the errno's meaning.
 * Subclasses name what the errno means for livetap.
 */
public class NativeException extends RuntimeException {
    private final String call;
    private final int errno;

    public NativeException(String call, int errno, String message) {
        super(message);
        this.call = call;
        this.errno = errno;
    }

    /** The system call or ioctl, as in C: {@code "ioctl(TUNSETIFF)"}. */
    public String call() {
        return call;
    }

    /** The errno value, or 0 when the failure was detected without one. */
    public int errno() {
        return errno;
    }

    /** EPERM / EACCES: the caller lacks CAP_NET_ADMIN or file permission. */
    public static final class NotPermittedException extends NativeException {
        public NotPermittedException(String call, int errno, String message) {
            super(call, errno, message);
        }
    }

    /** E2BIG on TUNSETIFF: the device already has the kernel's maximum of 256 queues. */
    public static final class TooManyQueuesException extends NativeException {
        public TooManyQueuesException(String call, int errno, String message) {
            super(call, errno, message);
        }
    }

    /** The feature is not present on this host (no /dev/net/tun, no JNA stub, ...). */
    public static final class UnavailableException extends NativeException {
        public UnavailableException(String call, String message) {
            super(call, 0, message);
        }
    }
}
