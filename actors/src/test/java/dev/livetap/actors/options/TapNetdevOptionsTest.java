package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TapNetdevOptionsTest {

    private static Map<String, Object> qmp(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", "tap");
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void parsesTheTargetExampleWithIncomingFdsAndItsOwnDownscript() {
        TapNetdevOptions o = TapNetdevOptions.parse(
                "tap,id=net0,ifname=tap0,queues=4,vnet_hdr=on,incoming-fds=on,script=no,x-downscript-duty=on,downscript=/path");
        assertEquals("net0", o.id());
        assertEquals(Optional.of("tap0"), o.ifname());
        assertEquals(4, o.queueCount());
        assertTrue(o.vnetHdr());
        assertTrue(o.waitsForIncomingFds());
        assertTrue(o.downscriptDutyExtension());
        assertEquals(Optional.of("/path"), o.downscriptPath());
        assertEquals(ScriptOption.DISABLED, o.script());
    }

    @Test
    void defaults() {
        TapNetdevOptions o = TapNetdevOptions.parse("tap,id=net0");
        assertEquals(1, o.queueCount());
        assertTrue(o.vnetHdr(), "vnet_hdr defaults to on");
        assertFalse(o.vhostEnabled());
        assertFalse(o.waitsForIncomingFds());
        assertEquals(Optional.empty(), o.ifname(), "without ifname= the kernel names the TAP");
        assertEquals(Optional.empty(), o.downscriptPath());
    }

    @Test
    void typeMayBeGivenAsKeyAndBooleansTakeQemuSpellings() {
        TapNetdevOptions o = TapNetdevOptions.parse(
                "type=tap,id=n,vnet_hdr=no,vhost=yes,incoming-fds=true,script=no,downscript=no");
        assertFalse(o.vnetHdr());
        assertTrue(o.vhostEnabled());
        assertTrue(o.incomingFds());
    }

    @Test
    void doubledCommaIsALiteralComma() {
        TapNetdevOptions o = TapNetdevOptions.parse("tap,id=n,script=/a,,b");
        assertEquals(new ScriptOption.Run("/a,b"), o.script());
        assertEquals("tap,id=n,script=/a,,b", o.toOptionString());
    }

    @Test
    void optionStringRoundTrips() {
        String s = "tap,id=net0,ifname=tap0,script=no,downscript=/path,vnet_hdr=on,queues=4,poll-us=50,incoming-fds=on,"
                + "x-downscript-duty=on";
        TapNetdevOptions o = TapNetdevOptions.parse(s);
        assertEquals(s, o.toOptionString());
        assertEquals(o, TapNetdevOptions.parse(o.toOptionString()));
    }

    @Test
    void qmpTakesJsonTypes() {
        TapNetdevOptions o = TapNetdevOptions.fromQmp(qmp("id", "net0", "queues", 8, "vhost", false,
                "incoming-fds", true, "script", "no", "downscript", "no", "poll-us", 50L));
        assertEquals(8, o.queueCount());
        assertFalse(o.vhostEnabled());
        assertTrue(o.incomingFds());
        assertEquals(50, o.pollUs().getAsLong());
        assertEquals(2, TapNetdevOptions.fromQmp(qmp("id", "n", "queues", BigInteger.TWO)).queueCount());
    }

    @Test
    void qmpAndOptionStringAgree() {
        assertEquals(TapNetdevOptions.parse("tap,id=net0,ifname=tap0,queues=4,vhost=on,downscript=no"),
                TapNetdevOptions.fromQmp(qmp("id", "net0", "ifname", "tap0", "queues", 4, "vhost", true,
                        "downscript", "no")));
    }

    // --- unknown options and wrong types ---

    @Test
    void unknownOptionIsNamed() {
        assertRejected("Invalid parameter 'queue'", () -> TapNetdevOptions.parse("tap,id=n,queue=2"));
        assertRejected("Parameter 'queue' is unexpected",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "queue", 2)));
    }

    @Test
    void wrongTypesNameOptionAndType() {
        assertRejected("Parameter 'queues' expects an integer", () -> TapNetdevOptions.parse("tap,id=n,queues=four"));
        assertRejected("Parameter 'vnet_hdr' expects 'on' or 'off'",
                () -> TapNetdevOptions.parse("tap,id=n,vnet_hdr=maybe"));
        assertRejected("Invalid parameter type for 'queues', expected: integer",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "queues", "4")));
        assertRejected("Invalid parameter type for 'queues', expected: integer",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "queues", 4.0)));
        assertRejected("Invalid parameter type for 'vhost', expected: boolean",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "vhost", "on")));
        assertRejected("Invalid parameter type for 'incoming-fds', expected: boolean",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "incoming-fds", 1)));
        assertRejected("Invalid parameter type for 'ifname', expected: string",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "ifname", 7)));
    }

    @Test
    void syntaxErrors() {
        assertRejected("Invalid option 'vhost': expected key=value", () -> TapNetdevOptions.parse("tap,id=n,vhost"));
        assertRejected("Parameter 'queues' is given more than once",
                () -> TapNetdevOptions.parse("tap,id=n,queues=1,queues=2"));
        assertRejected("Invalid option '=x': the parameter name is empty", () -> TapNetdevOptions.parse("tap,id=n,=x"));
        assertRejected("Empty option string", () -> TapNetdevOptions.parse(""));
        assertRejected("livetap supports only netdev type 'tap'; got 'user'", () -> TapNetdevOptions.parse("user,id=n"));
        assertRejected("Parameter 'type' is missing", () -> TapNetdevOptions.fromQmp(Map.of("id", "n")));
    }

    // --- id and ifname ---

    @Test
    void idIsRequiredAndWellFormed() {
        assertRejected("Parameter 'id' is missing", () -> TapNetdevOptions.parse("tap,ifname=tap0"));
        OptionException e = assertRejected("Parameter 'id' expects an identifier",
                () -> TapNetdevOptions.parse("tap,id=0net"));
        assertTrue(e.hint().orElseThrow().startsWith("Identifiers consist of letters"));
        assertRejected("Parameter 'id' expects an identifier", () -> TapNetdevOptions.parse("tap,id=net 0"));
        assertRejected("Parameter 'id' expects an identifier",
                () -> TapNetdevOptions.parse("tap,id=a" + "b".repeat(127)));
        assertEquals("a-b.c_9", TapNetdevOptions.parse("tap,id=a-b.c_9").id());
        assertEquals(127, TapNetdevOptions.parse("tap,id=a" + "b".repeat(126)).id().length());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tap0123456789ab", "t", "tap%d", "mq-tap.0"})
    void validIfnames(String ifname) {
        assertEquals(Optional.of(ifname), TapNetdevOptions.parse("tap,id=n,ifname=" + ifname).ifname());
    }

    @ParameterizedTest
    @ValueSource(strings = {"tap0123456789abc", "a/b", "a:b", "a b", ".", "..", ""})
    void invalidIfnames(String ifname) {
        assertRejected("Parameter 'ifname' expects an interface name of 1 to 15 bytes without '/', ':' or spaces;"
                + " got '" + ifname + "'", () -> TapNetdevOptions.parse("tap,id=n,ifname=" + ifname));
    }

    @Test
    void ifnameCountsBytesNotCharacters() {
        // 8 two-byte characters are 16 bytes: one more than IFNAMSIZ - 1.
        assertRejected("Parameter 'ifname' expects an interface name of 1 to 15 bytes without '/', ':' or spaces;"
                + " got 'éééééééé'", () -> TapNetdevOptions.parse("tap,id=n,ifname=éééééééé"));
    }

    // --- queues and poll-us ---

    @Test
    void queuesRange() {
        assertEquals(256, TapNetdevOptions.parse("tap,id=n,queues=256").queueCount());
        assertRejected("Parameter 'queues' expects an integer from 1 to 256 (at most 256 queues)",
                () -> TapNetdevOptions.parse("tap,id=n,queues=257"));
        assertRejected("Parameter 'queues' expects an integer from 1 to 256 (at most 256 queues)",
                () -> TapNetdevOptions.parse("tap,id=n,queues=0"));
        assertRejected("Parameter 'queues' expects an integer from 1 to 256 (at most 256 queues)",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "queues", -1)));
        assertRejected("Parameter 'queues' expects an integer from 1 to 256 (at most 256 queues)",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "queues", new BigInteger("99999999999999999999"))));
    }

    @Test
    void pollUsRange() {
        assertEquals(4294967295L, TapNetdevOptions.parse("tap,id=n,poll-us=4294967295").pollUs().getAsLong());
        assertRejected("Parameter 'poll-us' expects an integer from 0 to 4294967295",
                () -> TapNetdevOptions.parse("tap,id=n,poll-us=4294967296"));
    }

    // --- incoming-fds ---

    @ParameterizedTest
    @ValueSource(strings = {"fd=3", "fds=3:4", "helper=/usr/lib/qemu/qemu-bridge-helper"})
    void incomingFdsRefusesSourcesOfFds(String extra) {
        assertRejected("incoming-fds is incompatible with fd=, fds=, helper=",
                () -> TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no," + extra));
    }

    /** The series' review: with incoming-fds both scripts must be given, and as {@code no}. */
    @ParameterizedTest
    @ValueSource(strings = {"", "script=no", "downscript=no", "script=/etc/up,downscript=no",
            "script=no,downscript=/etc/down"})
    void incomingFdsNeedsBothScriptsGivenAsNo(String scripts) {
        String options = "tap,id=n,incoming-fds=on" + (scripts.isEmpty() ? "" : "," + scripts);
        OptionException e = assertThrows(OptionException.class, () -> TapNetdevOptions.parse(options));
        assertTrue(e.getMessage().startsWith("incoming-fds requires script=no and downscript=no (got "), e.getMessage());
        assertTrue(e.getMessage().contains("absent script= or downscript= means QEMU's default /etc/qemu-ifup"),
                "the text says why: " + e.getMessage());
        assertFalse(e.getMessage().contains("incompatible"), "scripts are not incompatible, they must be 'no'");
    }

    @Test
    void theRefusalNamesWhatCameAndTheExtensionForADownscriptPath() {
        assertRejected("incoming-fds requires script=no and downscript=no (got script absent, downscript absent): the"
                + " TAP arrives from the migration source already set up, and an absent script= or downscript= means"
                + " QEMU's default /etc/qemu-ifup or /etc/qemu-ifdown",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "incoming-fds", true)));
        assertRejected("incoming-fds requires script=no and downscript=no (got script=no, downscript=/etc/down): the"
                + " TAP arrives from the migration source already set up, and an absent script= or downscript= means"
                + " QEMU's default /etc/qemu-ifup or /etc/qemu-ifdown; to have this target run its own downscript once"
                + " the source has received 'loaded' (livetap's extension), add x-downscript-duty=on",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "incoming-fds", true, "script", "no",
                        "downscript", "/etc/down")));
    }

    @Test
    void incomingFdsAcceptsNoScriptsAndTheTargetsOwnDownscriptOnlyWithTheExtension() {
        TapNetdevOptions plain = TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no");
        assertTrue(plain.incomingFds());
        assertEquals(Optional.empty(), plain.downscriptPath());
        assertFalse(plain.downscriptDutyExtension());
        TapNetdevOptions o = TapNetdevOptions.parse(
                "tap,id=n,incoming-fds=on,script=no,downscript=/etc/qemu-ifdown,x-downscript-duty=on");
        assertEquals(Optional.of("/etc/qemu-ifdown"), o.downscriptPath(),
                "livetap's extension, asked for: the target brings its own downscript");
        OptionException e = assertThrows(OptionException.class, () -> TapNetdevOptions.fromQmp(qmp("id", "n",
                "incoming-fds", true, "script", "/up", "downscript", "/d", "x-downscript-duty", true)));
        assertTrue(e.getMessage().startsWith(TapNetdevOptions.INCOMING_FDS_SCRIPTS), "script= stays 'no': " + e.getMessage());
    }

    @Test
    void theDownscriptDutyExtensionNeedsATargetAndAPath() {
        assertRejected("x-downscript-duty=on applies only to a migration target's netdev (incoming-fds=on)",
                () -> TapNetdevOptions.parse("tap,id=n,ifname=t,downscript=/d,x-downscript-duty=on"));
        assertRejected("x-downscript-duty=on needs downscript=PATH (the downscript this target runs once the source"
                + " has received 'loaded')",
                () -> TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no,x-downscript-duty=on"));
        assertEquals(TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no"),
                TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no,x-downscript-duty=off"));
    }

    // --- the series' v17 form: local-migration-supported ---

    @Test
    void v17FormIsTheOneWithLocalMigrationSupported() {
        MachineType q35 = MachineType.parse("q35");
        TapNetdevOptions v10 = TapNetdevOptions.parse("tap,id=n,ifname=t");
        assertFalse(v10.v17Form(q35), "absent: the seed's v10 form, livetap's default");
        assertFalse(v10.localMigrationSupported(q35), "v17's default is off before the 11.2 machine types");
        TapNetdevOptions on = TapNetdevOptions.fromQmp(qmp("id", "n", "ifname", "t", "local-migration-supported", true));
        assertTrue(on.v17Form(q35));
        assertTrue(on.localMigrationSupported(MachineType.parse("pc-q35-10.0")));
        assertEquals("tap,id=n,ifname=t,local-migration-supported=on", on.toOptionString());
        assertEquals(on, TapNetdevOptions.parse(on.toOptionString()));
        TapNetdevOptions off = TapNetdevOptions.parse("tap,id=n,local-migration-supported=off");
        assertTrue(off.v17Form(q35));
        assertFalse(off.localMigrationSupported(q35));
        assertRejected("Invalid parameter type for 'local-migration-supported', expected: boolean",
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "local-migration-supported", "on")));
    }

    /** v16 excluded vnet_hdr= and ifname= with incoming-fds; the v10 form keeps them as expectations. */
    @ParameterizedTest
    @ValueSource(strings = {"ifname=tap0", "vnet_hdr=on", "vnet_hdr=off"})
    void v17FormRefusesIfnameAndVnetHdrWithIncomingFds(String extra) {
        String target = "tap,id=n,queues=4,incoming-fds=on,script=no,downscript=no,";
        assertRejected(TapNetdevOptions.INCOMING_FDS_IFNAME_VNET_HDR,
                () -> TapNetdevOptions.parse(target + "local-migration-supported=on," + extra));
        assertTrue(TapNetdevOptions.parse(target + extra).incomingFds(), "the v10 form accepts " + extra);
        assertTrue(TapNetdevOptions.parse("tap,id=n,local-migration-supported=on," + extra).v17Form(
                MachineType.parse("q35")), "a v17 source netdev names its TAP");
    }

    @Test
    void v17IncomingFdsNeedsLocalMigrationSupportedOn() {
        assertRejected("incoming-fds=on with local-migration-supported=off: this netdev's backend never travels, so no"
                + " TAP would arrive; set local-migration-supported=on",
                () -> TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no,local-migration-supported=off"));
    }

    /** v17: incoming-fds only during an incoming migration, and 'local' on before the netdev is created. */
    @Test
    void v17CreationRules() {
        MachineType q35 = MachineType.parse("q35");
        TapNetdevOptions target = TapNetdevOptions.parse(
                "tap,id=n,queues=4,incoming-fds=on,script=no,downscript=no,local-migration-supported=on");
        target.checkCreation(q35, RunState.INMIGRATE, true);
        assertRejected("incoming-fds=on is valid only during an incoming migration (run state inmigrate: start the VMM"
                + " with -incoming); this VM is running", () -> target.checkCreation(q35, RunState.RUNNING, true));
        assertRejected("incoming-fds=on with local-migration-supported=on needs migration parameter 'local' on before"
                + " the netdev is created (a TAP netdev created while 'local' is off initializes as usual and accepts no"
                + " incoming state): run migrate-set-parameters {\"local\": true}, then netdev_add",
                () -> target.checkCreation(q35, RunState.INMIGRATE, false));
        TapNetdevOptions v10 = TapNetdevOptions.parse("tap,id=n,queues=4,incoming-fds=on,script=no,downscript=no");
        v10.checkCreation(q35, RunState.RUNNING, false); // the v10 form is checked at the device's realize
        TapNetdevOptions.parse("tap,id=n,ifname=t,local-migration-supported=on").checkCreation(q35, RunState.RUNNING,
                false); // a v17 netdev that opens its own TAP is created as usual
    }

    @Test
    void incomingFdsOffBehavesAsWithout() {
        assertEquals(TapNetdevOptions.parse("tap,id=n,fd=3"), TapNetdevOptions.parse("tap,id=n,fd=3,incoming-fds=off"));
    }

    // --- fd=, fds=, helper= (QEMU's rules and texts) ---

    @ParameterizedTest
    @ValueSource(strings = {"ifname=t", "script=no", "downscript=/d", "vnet_hdr=on", "helper=/h", "queues=1",
            "fds=4:5", "vhostfds=6"})
    void fdRefusesEverythingQemuRefuses(String extra) {
        assertRejected("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, fds=, and vhostfds= are invalid with fd=",
                () -> TapNetdevOptions.parse("tap,id=n,fd=3," + extra));
    }

    @Test
    void fdAloneIsOneQueue() {
        TapNetdevOptions o = TapNetdevOptions.parse("tap,id=n,fd=tapfd,vhost=on,vhostfd=vfd");
        assertEquals(1, o.queueCount());
        assertEquals(Optional.of("tapfd"), o.fd());
        assertTrue(o.vhostEnabled());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ifname=t", "script=no", "downscript=/d", "vnet_hdr=off", "helper=/h", "queues=2",
            "vhostfd=9"})
    void fdsRefusesEverythingQemuRefuses(String extra) {
        assertRejected("ifname=, script=, downscript=, vnet_hdr=, helper=, queues=, and vhostfd= are invalid with fds=",
                () -> TapNetdevOptions.parse("tap,id=n,fds=3:4," + extra));
    }

    @Test
    void fdsNamesGiveTheQueueCount() {
        TapNetdevOptions o = TapNetdevOptions.parse("tap,id=n,fds=a:b:c,vhostfds=d:e:f");
        assertEquals(3, o.queueCount());
        assertEquals(List.of("a", "b", "c"), o.fds());
        assertTrue(o.vhostEnabled(), "vhostfds= implies vhost when vhost= is absent");
        assertRejected("The number of fds passed does not match the number of vhostfds passed",
                () -> TapNetdevOptions.parse("tap,id=n,fds=a:b:c,vhostfds=d:e"));
        assertRejected("Parameter 'fds' has an empty file descriptor name",
                () -> TapNetdevOptions.parse("tap,id=n,fds=a::c"));
        assertRejected("Parameter 'fds' has an empty file descriptor name", () -> TapNetdevOptions.parse("tap,id=n,fds="));
    }

    @Test
    void fdsAtMost256() {
        String names257 = String.join(":", java.util.Collections.nCopies(257, "x"));
        assertRejected("Parameter 'fds' names 257 file descriptors; at most 256 queues",
                () -> TapNetdevOptions.parse("tap,id=n,fds=" + names257));
        String names256 = String.join(":", java.util.Collections.nCopies(256, "x"));
        assertEquals(256, TapNetdevOptions.parse("tap,id=n,fds=" + names256).queueCount());
    }

    @ParameterizedTest
    @ValueSource(strings = {"ifname=t", "script=/u", "downscript=no", "vnet_hdr=on", "queues=1", "vhostfds=6"})
    void helperRefusesEverythingQemuRefuses(String extra) {
        assertRejected("ifname=, script=, downscript=, vnet_hdr=, queues=, and vhostfds= are invalid with helper=",
                () -> TapNetdevOptions.parse("tap,id=n,helper=/h," + extra));
    }

    @Test
    void vhostRules() {
        assertRejected("vhostfds= is invalid if fds= wasn't specified",
                () -> TapNetdevOptions.parse("tap,id=n,vhostfds=3"));
        assertRejected("vhostfd(s)= is not valid without vhost",
                () -> TapNetdevOptions.parse("tap,id=n,vhost=off,vhostfd=3"));
        assertRejected("vhostfd(s)= is not valid without vhost",
                () -> TapNetdevOptions.parse("tap,id=n,fds=1:2,vhost=off,vhostfds=3:4"));
        assertRejected("vhostforce=on is invalid with vhost=off (vhostforce implies vhost)",
                () -> TapNetdevOptions.parse("tap,id=n,vhost=off,vhostforce=on"));
        assertTrue(TapNetdevOptions.parse("tap,id=n,vhostforce=on").vhostEnabled(), "vhostforce implies vhost");
        assertTrue(TapNetdevOptions.parse("tap,id=n,vhostfd=3").vhostEnabled());
        assertFalse(TapNetdevOptions.parse("tap,id=n,vhost=off,vhostforce=off").vhostEnabled());
    }

    @Test
    void scriptValues() {
        TapNetdevOptions o = TapNetdevOptions.parse("tap,id=n,script=no,downscript=/down");
        assertEquals(ScriptOption.DISABLED, o.script());
        assertFalse(o.script().runs());
        assertTrue(o.script().given());
        assertEquals(new ScriptOption.Run("/down"), o.downscript());
        assertRejected("Parameter 'script' expects a path or 'no'", () -> TapNetdevOptions.parse("tap,id=n,script="));
    }

    @Test
    void recordConstructorChecksTheSameRules() {
        assertRejected(TapNetdevOptions.INCOMING_FDS_INCOMPATIBLE, () -> new TapNetdevOptions("n", Optional.empty(),
                Optional.of("3"), List.of(), null, null, Optional.empty(), Optional.empty(), Optional.empty(),
                Optional.empty(), List.of(), Optional.empty(), null, null, true));
        assertRejected(TapNetdevOptions.INCOMING_FDS_IFNAME_VNET_HDR, () -> new TapNetdevOptions("n", Optional.of("t"),
                Optional.empty(), List.of(), ScriptOption.DISABLED, ScriptOption.DISABLED, Optional.empty(),
                Optional.empty(), Optional.empty(), Optional.empty(), List.of(), Optional.empty(), null, null, true,
                Optional.of(true), false));
    }
}
