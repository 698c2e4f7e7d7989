package dev.livetap.nativeio.linux;

import dev.livetap.nativeio.NativeException;

/** errno names and meanings for error messages, and the errno-to-exception mapping. */
final class Errno {
    private static final String[] NAMES = new String[134];

    static {
        String[][] table = {
            {"1", "EPERM"}, {"2", "ENOENT"}, {"3", "ESRCH"}, {"4", "EINTR"}, {"5", "EIO"}, {"6", "ENXIO"},
            {"7", "E2BIG"}, {"9", "EBADF"}, {"11", "EAGAIN"}, {"12", "ENOMEM"}, {"13", "EACCES"},
            {"14", "EFAULT"}, {"16", "EBUSY"}, {"17", "EEXIST"}, {"19", "ENODEV"}, {"20", "ENOTDIR"},
            {"21", "EISDIR"}, {"22", "EINVAL"}, {"23", "ENFILE"}, {"24", "EMFILE"}, {"25", "ENOTTY"},
            {"28", "ENOSPC"}, {"30", "EROFS"}, {"32", "EPIPE"}, {"36", "ENAMETOOLONG"}, {"38", "ENOSYS"},
            {"40", "ELOOP"}, {"77", "EBADFD"}, {"88", "ENOTSOCK"}, {"95", "EOPNOTSUPP"},
            {"97", "EAFNOSUPPORT"}, {"98", "EADDRINUSE"}, {"99", "EADDRNOTAVAIL"}, {"100", "ENETDOWN"},
            {"103", "ECONNABORTED"}, {"104", "ECONNRESET"}, {"105", "ENOBUFS"}, {"106", "EISCONN"},
            {"107", "ENOTCONN"}, {"110", "ETIMEDOUT"}, {"111", "ECONNREFUSED"}, {"114", "EALREADY"},
            {"115", "EINPROGRESS"},
        };
        for (String[] row : table) {
            NAMES[Integer.parseInt(row[0])] = row[1];
        }
    }

    private Errno() {
    }

    static String name(int errno) {
        return errno > 0 && errno < NAMES.length && NAMES[errno] != null ? NAMES[errno] : "errno " + errno;
    }

    /** {@code "E2BIG: Argument list too long"}. */
    static String describe(int errno) {
        String meaning;
        try {
            meaning = LinuxC.strerror(errno);
        } catch (RuntimeException | LinkageError e) {
            meaning = null;
        }
        return meaning == null ? name(errno) : name(errno) + ": " + meaning;
    }

    /** {@code call} on {@code target} failed with {@code errno}; EPERM/EACCES become NotPermittedException. */
    static NativeException failure(String call, String target, int errno) {
        return failure(call, target, errno, null);
    }

    static NativeException failure(String call, String target, int errno, String explanation) {
        String message = call + " on " + target + " failed: "
                + (explanation == null ? "" : explanation + " ") + "(" + describe(errno) + ")";
        if (errno == LinuxC.EPERM || errno == LinuxC.EACCES) {
            return new NativeException.NotPermittedException(call, errno, message);
        }
        return new NativeException(call, errno, message);
    }
}
