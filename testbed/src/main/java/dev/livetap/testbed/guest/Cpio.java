package dev.livetap.testbed.guest;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;

/**
 * A cpio archive in the kernel's initramfs format ({@code newc}, see the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst). Entries are written sorted by path
 * with mtime 0, uid/gid 0 and inode numbers in that order, so equal content gives equal bytes.
 */
final class Cpio {
    private static final int DIR = 0040000;
    private static final int FILE = 0100000;
    private static final int CHAR_DEVICE = 0020000;

    private record Entry(int mode, byte[] data, int rdevMajor, int rdevMinor) {
    }

    private final Map<String, Entry> entries = new TreeMap<>();

    Cpio directory(String path) {
        entries.put(path, new Entry(DIR | 0755, new byte[0], 0, 0));
        return this;
    }

    Cpio file(String path, int permissions, byte[] data) {
        entries.put(path, new Entry(FILE | permissions, data.clone(), 0, 0));
        return this;
    }

    Cpio charDevice(String path, int permissions, int major, int minor) {
        entries.put(path, new Entry(CHAR_DEVICE | permissions, new byte[0], major, minor));
        return this;
    }

    byte[] toBytes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int inode = 1;
        for (Map.Entry<String, Entry> e : entries.entrySet()) {
            write(out, inode++, e.getKey(), e.getValue());
        }
        write(out, 0, "TRAILER!!!", new Entry(0, new byte[0], 0, 0));
        return out.toByteArray();
    }

    private static void write(ByteArrayOutputStream out, int inode, String path, Entry e) {
        byte[] name = (path + "\0").getBytes(StandardCharsets.UTF_8);
        int nlink = (e.mode & DIR) == DIR ? 2 : 1;
        StringBuilder h = new StringBuilder("070701");
        for (int field : new int[] {inode, e.mode, 0, 0, nlink, 0, e.data.length, 0, 0, e.rdevMajor, e.rdevMinor,
                name.length, 0}) {
            h.append(String.format("%08X", field));
        }
        out.writeBytes(h.toString().getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(name);
        pad(out);
        out.writeBytes(e.data);
        pad(out);
    }

    private static void pad(ByteArrayOutputStream out) {
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }
}
