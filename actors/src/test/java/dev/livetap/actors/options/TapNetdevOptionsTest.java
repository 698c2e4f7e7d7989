package dev.livetap.actors.options;

import static dev.livetap.actors.options.Errors.assertRejected;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
                "tap,id=net0,ifname=tap0,queues=4,vnet_hdr=on,incoming-fds=on,downscript=/path");
        assertEquals("net0", o.id());
        assertEquals(Optional.of("tap0"), o.ifname());
        assertEquals(4, o.queueCount());
        assertTrue(o.vnetHdr());
        assertTrue(o.waitsForIncomingFds());
        assertEquals(Optional.of("/path"), o.downscriptPath());
        assertEquals(ScriptOption.UNSET, o.script());
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
        TapNetdevOptions o = TapNetdevOptions.parse("type=tap,id=n,vnet_hdr=no,vhost=yes,incoming-fds=true");
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
        String s = "tap,id=net0,ifname=tap0,downscript=/path,vnet_hdr=on,queues=4,poll-us=50,incoming-fds=on";
        TapNetdevOptions o = TapNetdevOptions.parse(s);
        assertEquals(s, o.toOptionString());
        assertEquals(o, TapNetdevOptions.parse(o.toOptionString()));
    }

    @Test
    void qmpTakesJsonTypes() {
        TapNetdevOptions o = TapNetdevOptions.fromQmp(qmp("id", "net0", "queues", 8, "vhost", false,
                "incoming-fds", true, "poll-us", 50L));
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
    @ValueSource(strings = {"fd=3", "fds=3:4", "helper=/usr/lib/qemu/qemu-bridge-helper", "script=/etc/up"})
    void incomingFdsRefusesSourcesOfFdsAndAScript(String extra) {
        OptionException e = assertRejected("incoming-fds is incompatible with fd=, fds=, helper=, script=, downscript=",
                () -> TapNetdevOptions.parse("tap,id=n,incoming-fds=on," + extra));
        assertEquals(Optional.of(TapNetdevOptions.INCOMING_FDS_HINT), e.hint());
    }

    @Test
    void incomingFdsAcceptsNoScriptsAndTheTargetsOwnDownscript() {
        assertTrue(TapNetdevOptions.parse("tap,id=n,incoming-fds=on,script=no,downscript=no").incomingFds());
        TapNetdevOptions o = TapNetdevOptions.parse("tap,id=n,incoming-fds=on,downscript=/etc/qemu-ifdown");
        assertEquals(Optional.of("/etc/qemu-ifdown"), o.downscriptPath(),
                "livetap (beyond QEMU) lets the target bring its own downscript");
        assertRejected(TapNetdevOptions.INCOMING_FDS_INCOMPATIBLE,
                () -> TapNetdevOptions.fromQmp(qmp("id", "n", "incoming-fds", true, "script", "/up")));
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
    }
}
