package dev.livetap.testbed.guest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The image builder's offline parts: module order, the cpio format, reproducibility, the manifest. */
class GuestImageTest {
    @Test
    void dependsIsReadFromTheModinfoSection() {
        byte[] ko = "\0\u007fELF...\0license=GPL\0depends=virtio_ring,virtio\0retpoline=Y\0".getBytes(StandardCharsets.ISO_8859_1);
        assertEquals(List.of("virtio_ring", "virtio"), GuestImage.depends(ko));
        assertEquals(List.of(), GuestImage.depends("\0depends=\0".getBytes(StandardCharsets.ISO_8859_1)));
        assertEquals(List.of(), GuestImage.depends("no modinfo".getBytes(StandardCharsets.ISO_8859_1)));
    }

    @Test
    void modulesComeAfterTheirDependenciesAndAMissingOneIsNamed(@TempDir Path tree) throws Exception {
        write(tree, "drivers/virtio/virtio.ko", "virtio_ring");
        write(tree, "drivers/virtio/virtio_ring.ko", "");
        write(tree, "drivers/virtio/virtio_pci.ko", "virtio_ring,virtio");
        write(tree, "drivers/net/virtio_net.ko", "virtio_ring,virtio,net_failover");
        write(tree, "drivers/net/net_failover.ko", "failover");
        write(tree, "net/core/failover.ko", "");
        assertEquals(List.of("virtio_ring", "virtio", "virtio_pci", "failover", "net_failover", "virtio_net"),
                List.copyOf(GuestImage.loadOrder(tree, tree).keySet()));
        Files.delete(tree.resolve("net/core/failover.ko"));
        GuestImage.UnavailableException e = org.junit.jupiter.api.Assertions.assertThrows(GuestImage.UnavailableException.class,
                () -> GuestImage.loadOrder(tree, tree));
        assertTrue(e.getMessage().contains("failover"), e.getMessage());
    }

    @Test
    void cpioEntriesAreSortedWithNewcHeadersAndATrailer() {
        byte[] a = new Cpio().file("z", 0644, new byte[] {1, 2, 3}).directory("a").toBytes();
        byte[] b = new Cpio().directory("a").file("z", 0644, new byte[] {1, 2, 3}).toBytes();
        assertArrayEquals(a, b, "insertion order does not change the archive");
        String text = new String(a, StandardCharsets.ISO_8859_1);
        assertTrue(text.startsWith("070701"), "newc magic");
        assertTrue(text.indexOf("a\0") < text.indexOf("z\0"), "sorted by path");
        assertTrue(text.contains("TRAILER!!!\0"), "the trailer ends the archive");
        assertEquals(0, a.length % 4, "entries are padded to 4 bytes");
    }

    @Test
    void theInitramfsIsReproducible() throws Exception {
        assumeTrue(Files.isExecutable(GuestImage.BUSYBOX), "skipped: no " + GuestImage.BUSYBOX + " (busybox-static)");
        Map<String, byte[]> modules = new LinkedHashMap<>();
        modules.put("virtio", new byte[] {1});
        modules.put("virtio_net", new byte[] {2});
        byte[] first = GuestImage.initramfs(modules);
        byte[] second = GuestImage.initramfs(modules);
        assertEquals(GuestImage.sha256(first), GuestImage.sha256(second), "equal content gives an equal initramfs");
        assertTrue(GuestImage.initScript(List.copyOf(modules.keySet())).indexOf("virtio.ko")
                < GuestImage.initScript(List.copyOf(modules.keySet())).indexOf("virtio_net.ko"), "insmod in load order");
    }

    @Test
    void aManifestIsReusedOnlyWhileTheFilesMatchIt(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("vmlinuz"), new byte[] {7});
        Files.write(dir.resolve("initrd.gz"), new byte[] {8, 9});
        GuestImage image = new GuestImage("linux-image-x", "x", "1-1", dir, dir.resolve("vmlinuz"), dir.resolve("initrd.gz"),
                GuestImage.sha256(new byte[] {7}), GuestImage.sha256(new byte[] {8, 9}), 2, List.of("virtio", "virtio_net"));
        Files.writeString(dir.resolve("manifest.json"), image.manifestJson());
        assertEquals(image, GuestImage.readManifest(dir).orElseThrow());
        Files.write(dir.resolve("initrd.gz"), new byte[] {8});
        assertTrue(GuestImage.readManifest(dir).isEmpty(), "a changed initrd is rebuilt, not trusted");
    }

    private static void write(Path tree, String path, String depends) throws Exception {
        Path p = tree.resolve(path);
        Files.createDirectories(p.getParent());
        Files.write(p, ("\0depends=" + depends + "\0").getBytes(StandardCharsets.ISO_8859_1));
    }
}
