package dev.livetap.actors.options;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.livetap.actors.tap.KernelVhostNet;
import dev.livetap.actors.tap.PassedTapFds;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** docs/options.md must quote every fixed error text the code can raise, so the reference cannot drift. */
class OptionsDocTest {
    private static String optionsDoc() throws IOException {
        Path root = Path.of(System.getProperty("livetap.test.repoRoot", ".."));
        Path doc = root.resolve("docs/options.md");
        if (!Files.exists(doc)) {
            doc = Path.of("..").resolve("docs/options.md");
        }
        return Files.readString(doc);
    }

    @Test
    void everyFixedErrorTextIsDocumented() throws IOException {
        String doc = optionsDoc();
        List<String> texts = List.of(
                TapNetdevOptions.INCOMING_FDS_INCOMPATIBLE, TapNetdevOptions.INCOMING_FDS_SCRIPTS,
                TapNetdevOptions.DOWNSCRIPT_DUTY_WITHOUT_INCOMING_FDS, TapNetdevOptions.DOWNSCRIPT_DUTY_WITHOUT_PATH,
                TapNetdevOptions.INCOMING_FDS_IFNAME_VNET_HDR, TapNetdevOptions.INCOMING_FDS_NOT_SUPPORTED,
                TapNetdevOptions.INCOMING_FDS_NOT_INCOMING, TapNetdevOptions.INCOMING_FDS_LOCAL_OFF,
                TapNetdevOptions.INVALID_WITH_FD, TapNetdevOptions.INVALID_WITH_FDS,
                TapNetdevOptions.INVALID_WITH_HELPER, TapNetdevOptions.VHOSTFDS_WITHOUT_FDS,
                TapNetdevOptions.VHOSTFDS_COUNT_MISMATCH, TapNetdevOptions.VHOSTFD_WITHOUT_VHOST,
                TapNetdevOptions.VHOSTFORCE_WITH_VHOST_OFF, TapNetdevOptions.QUEUES_RANGE,
                VirtioNetDeviceOptions.MULTICAST_MAC, VirtioNetDeviceOptions.ZERO_MAC,
                VirtioNetRealizeCheck.MIXED_PEER_STATES, VirtioNetRealizeCheck.WAITING_WITHOUT_INCOMING,
                MigrationParameters.LOCAL_ALIAS_CONFLICT, MigrationParameters.LIMIT_RANGE,
                MigrationParameters.STREAM_FORMAT_RANGE,
                KernelVhostNet.ABSENT, "Failed to setup vhost during TAP post-load: ",
                PassedTapFds.VNET_HDR_NOT_CONSISTENT,
                "local migration requires a UNIX socket channel (unix:PATH); got ");
        for (String text : texts) {
            assertTrue(doc.contains(text), "docs/options.md must quote: " + text);
        }
    }
}
