package dev.livetap.actors.options;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;

/**
 * A TAP netdev ({@code -netdev tap,...} or QMP {@code netdev_add} with {@code "type": "tap"}),
 * with QEMU's option names. Optional members stay optional, as in QAPI, because QEMU's rules
 * depend on whether an option was given at all; the effective values are methods
 * ({@link #queueCount()}, {@link #vnetHdr()}, {@link #vhostEnabled()}).
 *
 * <p>Every rule is checked when the record is created, whatever the path. The rules are QEMU's
 * ({@code net_init_tap}) with its texts, plus:
 * <ul>
 *   <li>{@code incoming-fds=on} refuses {@code fd=}, {@code fds=} and {@code helper=}
 *       ({@link #INCOMING_FDS_INCOMPATIBLE}), and needs {@code script=no} and {@code downscript=no}
 *       given explicitly ({@link #INCOMING_FDS_SCRIPTS}; the series' review: an absent script means
 *       QEMU's default /etc/qemu-ifup and /etc/qemu-ifdown, which cannot run on a TAP that arrives
 *       later). livetap's extension, only when asked for with {@code x-downscript-duty=on}: the
 *       target names its own {@code downscript=PATH}, whose duty passes to the target only when
 *       the source receives {@code loaded} (design semantic 8).</li>
 *   <li>Two forms of the live-TAP series. The seed's v10 form (no {@code local-migration-supported}):
 *       with {@code incoming-fds=on}, {@code ifname=} and {@code vnet_hdr=} are accepted as
 *       expectations about the TAP that arrives, and the device's {@code backend-transfer} is the
 *       switch. The v17 form ({@code local-migration-supported} given, or on by the machine type's
 *       default, which none of livetap's machine types has): {@code ifname=} and {@code vnet_hdr=}
 *       are refused with {@code incoming-fds} (v16), {@code incoming-fds=on} needs
 *       {@code local-migration-supported=on}, and the netdev is created during an incoming
 *       migration with migration parameter {@code local} already on
 *       ({@link #checkCreation(MachineType, RunState, boolean)}). {@code queues=} gives the number
 *       of queues that wait for state in both forms.</li>
 *   <li>{@code queues} is 1 to 256 (the kernel's MAX_TAP_QUEUES), as is the number of names in
 *       {@code fds=}.</li>
 *   <li>{@code vhostforce=on} implies vhost; combined with an explicit {@code vhost=off} it is
 *       refused (QEMU silently lets {@code vhost=off} win).</li>
 *   <li>Without {@code ifname=} the kernel names the interface ({@code tap%d}), as in QEMU.
 *       Without {@code script=}/{@code downscript=} livetap runs no script (QEMU would run
 *       /etc/qemu-ifup and /etc/qemu-ifdown).</li>
 * </ul>
 */
public record TapNetdevOptions(
        String id,
        Optional<String> ifname,
        Optional<String> fd,
        List<String> fds,
        ScriptOption script,
        ScriptOption downscript,
        Optional<String> helper,
        Optional<Boolean> vnetHdrOption,
        Optional<Boolean> vhost,
        Optional<String> vhostfd,
        List<String> vhostfds,
        Optional<Boolean> vhostforce,
        OptionalInt queues,
        OptionalLong pollUs,
        boolean incomingFds,
        Optional<Boolean> localMigrationSupportedOption,
        boolean downscriptDutyExtension) {

    /** The netdev type this record describes. */
    public static final String TYPE = "tap";
    /** The kernel's MAX_TAP_QUEUES; the 257th TUNSETIFF fails with E2BIG. */
    public static final int QUEUES_MAX = 256;
    public static final long POLL_US_MAX = 0xFFFF_FFFFL;

    /** QEMU's text (live-TAP series) for incoming-fds with a source of fds, without the scripts the review moved out. */
    public static final String INCOMING_FDS_INCOMPATIBLE = "incoming-fds is incompatible with fd=, fds=, helper=";
    /** The start of the refusal of incoming-fds whose scripts are not both given as {@code no} (the review's rule). */
    public static final String INCOMING_FDS_SCRIPTS = "incoming-fds requires script=no and downscript=no";
    /** Why, in the refusal: the TAP arrives set up, and an absent script is QEMU's default one. */
    static final String INCOMING_FDS_SCRIPTS_WHY = "the TAP arrives from the migration source already set up, and an"
            + " absent script= or downscript= means QEMU's default /etc/qemu-ifup or /etc/qemu-ifdown";
    /** livetap's extension, in the refusal of a downscript path. */
    static final String DOWNSCRIPT_DUTY_ADVICE = "; to have this target run its own downscript once the source has"
            + " received 'loaded' (livetap's extension), add x-downscript-duty=on";
    public static final String DOWNSCRIPT_DUTY_WITHOUT_INCOMING_FDS =
            "x-downscript-duty=on applies only to a migration target's netdev (incoming-fds=on)";
    public static final String DOWNSCRIPT_DUTY_WITHOUT_PATH = "x-downscript-duty=on needs downscript=PATH (the"
            + " downscript this target runs once the source has received 'loaded')";
    /** The v16 rule of the series, in the v17 form. */
    public static final String INCOMING_FDS_IFNAME_VNET_HDR = "incoming-fds is incompatible with ifname= and vnet_hdr="
            + " in the v17 form (local-migration-supported): the TAP that arrives brings its own name and vnet_hdr;"
            + " drop them (or drop local-migration-supported: the v10 form takes them as expectations)";
    public static final String INCOMING_FDS_NOT_SUPPORTED = "incoming-fds=on with local-migration-supported=off:"
            + " this netdev's backend never travels, so no TAP would arrive; set local-migration-supported=on";
    /** v17: incoming-fds is checked to be used during an incoming migration. */
    public static final String INCOMING_FDS_NOT_INCOMING = "incoming-fds=on is valid only during an incoming"
            + " migration (run state inmigrate: start the VMM with -incoming)";
    /** v17: the target's {@code local} must be on before its TAP netdev is created. */
    public static final String INCOMING_FDS_LOCAL_OFF = "incoming-fds=on with local-migration-supported=on needs"
            + " migration parameter 'local' on before the netdev is created (a TAP netdev created while 'local' is off"
            + " initializes as usual and accepts no incoming state): run migrate-set-parameters {\"local\": true},"
            + " then netdev_add";
    /** The netdev property of the series' v17 form. */
    public static final String LOCAL_MIGRATION_SUPPORTED = "local-migration-supported";
    /** livetap's downscript-duty extension (design semantic 8). */
    public static final String X_DOWNSCRIPT_DUTY = "x-downscript-duty";
    /** QEMU's text. */
    public static final String INVALID_WITH_FD = "ifname=, script=, downscript=, vnet_hdr=, "
            + "helper=, queues=, fds=, and vhostfds= are invalid with fd=";
    /** QEMU's text. */
    public static final String INVALID_WITH_FDS = "ifname=, script=, downscript=, vnet_hdr=, "
            + "helper=, queues=, and vhostfd= are invalid with fds=";
    /** QEMU's text. */
    public static final String INVALID_WITH_HELPER = "ifname=, script=, downscript=, vnet_hdr=, "
            + "queues=, and vhostfds= are invalid with helper=";
    /** QEMU's text. */
    public static final String VHOSTFDS_WITHOUT_FDS = "vhostfds= is invalid if fds= wasn't specified";
    /** QEMU's text. */
    public static final String VHOSTFDS_COUNT_MISMATCH =
            "The number of fds passed does not match the number of vhostfds passed";
    /** QEMU's text. */
    public static final String VHOSTFD_WITHOUT_VHOST = "vhostfd(s)= is not valid without vhost";
    public static final String VHOSTFORCE_WITH_VHOST_OFF =
            "vhostforce=on is invalid with vhost=off (vhostforce implies vhost)";
    public static final String QUEUES_RANGE = "an integer from 1 to 256 (at most 256 queues)";

    /** Every option name a TAP netdev accepts (besides {@code type}). */
    public static final List<String> OPTION_NAMES = List.of("id", "ifname", "fd", "fds", "script",
            "downscript", "helper", "vnet_hdr", "vhost", "vhostfd", "vhostfds", "vhostforce", "queues",
            "poll-us", "incoming-fds", LOCAL_MIGRATION_SUPPORTED, X_DOWNSCRIPT_DUTY);

    public TapNetdevOptions {
        Names.requireId("id", id);
        ifname = Optional.ofNullable(ifname).flatMap(x -> x).map(Names::requireIfname);
        fd = normalize(fd);
        fds = fds == null ? List.of() : List.copyOf(fds);
        script = script == null ? ScriptOption.UNSET : script;
        downscript = downscript == null ? ScriptOption.UNSET : downscript;
        helper = normalize(helper);
        vnetHdrOption = Optional.ofNullable(vnetHdrOption).flatMap(x -> x);
        vhost = Optional.ofNullable(vhost).flatMap(x -> x);
        vhostfd = normalize(vhostfd);
        vhostfds = vhostfds == null ? List.of() : List.copyOf(vhostfds);
        vhostforce = Optional.ofNullable(vhostforce).flatMap(x -> x);
        queues = queues == null ? OptionalInt.empty() : queues;
        pollUs = pollUs == null ? OptionalLong.empty() : pollUs;
        localMigrationSupportedOption = Optional.ofNullable(localMigrationSupportedOption).flatMap(x -> x);
        check(id, ifname, fd, fds, script, downscript, helper, vnetHdrOption, vhost, vhostfd, vhostfds,
                vhostforce, queues, pollUs, incomingFds);
        checkIncoming(ifname, script, downscript, vnetHdrOption, incomingFds, localMigrationSupportedOption,
                downscriptDutyExtension);
    }

    /** A netdev of the v10 form (no {@code local-migration-supported}, no downscript duty). */
    public TapNetdevOptions(String id, Optional<String> ifname, Optional<String> fd, List<String> fds,
            ScriptOption script, ScriptOption downscript, Optional<String> helper, Optional<Boolean> vnetHdrOption,
            Optional<Boolean> vhost, Optional<String> vhostfd, List<String> vhostfds, Optional<Boolean> vhostforce,
            OptionalInt queues, OptionalLong pollUs, boolean incomingFds) {
        this(id, ifname, fd, fds, script, downscript, helper, vnetHdrOption, vhost, vhostfd, vhostfds, vhostforce,
                queues, pollUs, incomingFds, Optional.empty(), false);
    }

    private static Optional<String> normalize(Optional<String> value) {
        return Optional.ofNullable(value).flatMap(x -> x);
    }

    private static void check(String id, Optional<String> ifname, Optional<String> fd, List<String> fds,
            ScriptOption script, ScriptOption downscript, Optional<String> helper, Optional<Boolean> vnetHdr,
            Optional<Boolean> vhost, Optional<String> vhostfd, List<String> vhostfds,
            Optional<Boolean> vhostforce, OptionalInt queues, OptionalLong pollUs, boolean incomingFds) {
        if (queues.isPresent() && (queues.getAsInt() < 1 || queues.getAsInt() > QUEUES_MAX)) {
            throw new OptionException("Parameter 'queues' expects " + QUEUES_RANGE);
        }
        if (pollUs.isPresent() && (pollUs.getAsLong() < 0 || pollUs.getAsLong() > POLL_US_MAX)) {
            throw new OptionException("Parameter 'poll-us' expects an integer from 0 to " + POLL_US_MAX);
        }
        checkFdNames("fds", fds);
        checkFdNames("vhostfds", vhostfds);
        if (incomingFds && (fd.isPresent() || !fds.isEmpty() || helper.isPresent())) {
            throw new OptionException(INCOMING_FDS_INCOMPATIBLE);
        }
        if (fd.isPresent()) {
            if (ifname.isPresent() || script.given() || downscript.given() || vnetHdr.isPresent()
                    || helper.isPresent() || queues.isPresent() || !fds.isEmpty() || !vhostfds.isEmpty()) {
                throw new OptionException(INVALID_WITH_FD);
            }
        } else if (!fds.isEmpty()) {
            if (ifname.isPresent() || script.given() || downscript.given() || vnetHdr.isPresent()
                    || helper.isPresent() || queues.isPresent() || vhostfd.isPresent()) {
                throw new OptionException(INVALID_WITH_FDS,
                        "With fds= the number of queues is the number of names given");
            }
            if (!vhostfds.isEmpty() && vhostfds.size() != fds.size()) {
                throw new OptionException(VHOSTFDS_COUNT_MISMATCH);
            }
        } else if (helper.isPresent()) {
            if (ifname.isPresent() || script.given() || downscript.given() || vnetHdr.isPresent()
                    || queues.isPresent() || !vhostfds.isEmpty()) {
                throw new OptionException(INVALID_WITH_HELPER);
            }
        } else if (!vhostfds.isEmpty()) {
            throw new OptionException(VHOSTFDS_WITHOUT_FDS);
        }
        if (vhost.isPresent() && !vhost.get()) {
            if (vhostfd.isPresent() || !vhostfds.isEmpty()) {
                throw new OptionException(VHOSTFD_WITHOUT_VHOST);
            }
            if (vhostforce.orElse(false)) {
                throw new OptionException(VHOSTFORCE_WITH_VHOST_OFF);
            }
        }
    }

    /**
     * The rules of a target's netdev: its scripts (the review's rule and livetap's downscript-duty
     * extension) and the v17 form's own (v16: no {@code ifname=}/{@code vnet_hdr=}).
     */
    private static void checkIncoming(Optional<String> ifname, ScriptOption script, ScriptOption downscript,
            Optional<Boolean> vnetHdr, boolean incomingFds, Optional<Boolean> localMigrationSupported,
            boolean downscriptDuty) {
        if (downscriptDuty && !incomingFds) {
            throw new OptionException(DOWNSCRIPT_DUTY_WITHOUT_INCOMING_FDS);
        }
        if (!incomingFds) {
            return;
        }
        boolean scriptNo = script instanceof ScriptOption.Disabled;
        boolean downscriptOk = downscript instanceof ScriptOption.Disabled
                || downscriptDuty && downscript instanceof ScriptOption.Run;
        if (!scriptNo || !downscriptOk) {
            throw new OptionException(INCOMING_FDS_SCRIPTS + " (got " + described("script", script) + ", "
                    + described("downscript", downscript) + "): " + INCOMING_FDS_SCRIPTS_WHY
                    + (downscript.runs() && !downscriptDuty ? DOWNSCRIPT_DUTY_ADVICE : ""));
        }
        if (downscriptDuty && !downscript.runs()) {
            throw new OptionException(DOWNSCRIPT_DUTY_WITHOUT_PATH);
        }
        if (localMigrationSupported.isPresent()) {
            if (!localMigrationSupported.get()) {
                throw new OptionException(INCOMING_FDS_NOT_SUPPORTED);
            }
            if (ifname.isPresent() || vnetHdr.isPresent()) {
                throw new OptionException(INCOMING_FDS_IFNAME_VNET_HDR);
            }
        }
    }

    private static String described(String name, ScriptOption value) {
        return value.given() ? name + "=" + value.optionValue() : name + " absent";
    }

    private static void checkFdNames(String option, List<String> names) {
        if (names.size() > QUEUES_MAX) {
            throw new OptionException("Parameter '" + option + "' names " + names.size()
                    + " file descriptors; at most " + QUEUES_MAX + " queues");
        }
        for (String name : names) {
            if (name == null || name.isEmpty()) {
                throw new OptionException("Parameter '" + option + "' has an empty file descriptor name");
            }
        }
    }

    /**
     * Parses an option string such as
     * {@code tap,id=net0,queues=4,incoming-fds=on,script=no,downscript=no}
     * (a leading {@code type=tap} is accepted too).
     */
    public static TapNetdevOptions parse(String optionString) {
        return from(OptionValues.ofOptionString(optionString, "type"));
    }

    /** Reads QMP {@code netdev_add} arguments (JSON types: {@code queues} an integer, {@code vhost} a boolean). */
    public static TapNetdevOptions fromQmp(Map<String, ?> arguments) {
        return from(OptionValues.ofQmp(arguments));
    }

    private static TapNetdevOptions from(OptionValues v) {
        String type = v.requiredString("type");
        if (!type.equals(TYPE)) {
            throw new OptionException("livetap supports only netdev type 'tap'; got '" + type + "'");
        }
        List<String> known = new ArrayList<>(OPTION_NAMES);
        known.add("type");
        v.rejectUnknown(known);
        String id = v.requiredString("id");
        return new TapNetdevOptions(
                id,
                v.string("ifname"),
                v.string("fd"),
                v.string("fds").map(s -> splitFdNames("fds", s)).orElse(List.of()),
                v.string("script").map(s -> ScriptOption.parse("script", s)).orElse(ScriptOption.UNSET),
                v.string("downscript").map(s -> ScriptOption.parse("downscript", s)).orElse(ScriptOption.UNSET),
                v.string("helper"),
                v.bool("vnet_hdr"),
                v.bool("vhost"),
                v.string("vhostfd"),
                v.string("vhostfds").map(s -> splitFdNames("vhostfds", s)).orElse(List.of()),
                v.bool("vhostforce"),
                toInt(v.integer("queues", 1, QUEUES_MAX, QUEUES_RANGE)),
                v.integer("poll-us", 0, POLL_US_MAX, "an integer from 0 to " + POLL_US_MAX),
                v.bool("incoming-fds").orElse(false),
                v.bool(LOCAL_MIGRATION_SUPPORTED),
                v.bool(X_DOWNSCRIPT_DUTY).orElse(false));
    }

    private static OptionalInt toInt(OptionalLong value) {
        return value.isPresent() ? OptionalInt.of((int) value.getAsLong()) : OptionalInt.empty();
    }

    /** QEMU's colon-separated fd name list, e.g. {@code fds=3:4:5}. */
    static List<String> splitFdNames(String option, String value) {
        if (value.isEmpty()) {
            throw new OptionException("Parameter '" + option + "' has an empty file descriptor name");
        }
        return Arrays.asList(value.split(":", -1));
    }

    /** Queues this netdev has: the number of {@code fds=} names, else {@code queues} (default 1). */
    public int queueCount() {
        return fds.isEmpty() ? queues.orElse(1) : fds.size();
    }

    /** IFF_VNET_HDR requested: {@code vnet_hdr}, default on. */
    public boolean vnetHdr() {
        return vnetHdrOption.orElse(true);
    }

    /** vhost used: an explicit {@code vhost=}, else on when {@code vhostfd(s)=} or {@code vhostforce=on}. */
    public boolean vhostEnabled() {
        return vhost.orElse(vhostfd.isPresent() || !vhostfds.isEmpty() || vhostforce.orElse(false));
    }

    /**
     * True for the series' v17 form: {@code local-migration-supported} given, or on by default on
     * {@code machine} (from the 11.2 machine types, which livetap does not model yet).
     */
    public boolean v17Form(MachineType machine) {
        return localMigrationSupportedOption.isPresent() || MachineCompat.localMigrationSupportedDefault(machine);
    }

    /** The effective {@code local-migration-supported} on {@code machine}: the netdev's own value, else the machine type's default. */
    public boolean localMigrationSupported(MachineType machine) {
        return localMigrationSupportedOption.orElseGet(() -> MachineCompat.localMigrationSupportedDefault(machine));
    }

    /**
     * The v17 form's rules at creation, which depend on the VM: {@code incoming-fds} only during an
     * incoming migration, and only while migration parameter {@code local} is on (set before the
     * netdev, as v17 requires). A v10 netdev passes (its checks come at the device's realize).
     */
    public void checkCreation(MachineType machine, RunState runState, boolean localOn) {
        if (!incomingFds || !v17Form(machine)) {
            return;
        }
        if (!localMigrationSupported(machine)) {
            throw new OptionException(INCOMING_FDS_NOT_SUPPORTED);
        }
        if (ifname.isPresent() || vnetHdrOption.isPresent()) {
            throw new OptionException(INCOMING_FDS_IFNAME_VNET_HDR);
        }
        if (runState != RunState.INMIGRATE) {
            throw new OptionException(INCOMING_FDS_NOT_INCOMING + "; this VM is " + runState.qmpName());
        }
        if (!localOn) {
            throw new OptionException(INCOMING_FDS_LOCAL_OFF);
        }
    }

    /** True when this netdev opens nothing and waits for its queue fds from the migration stream. */
    public boolean waitsForIncomingFds() {
        return incomingFds;
    }

    /**
     * The downscript this side runs when it gives up the TAP for good, if any (on a target only
     * with {@code x-downscript-duty=on}, and once the source has received {@code loaded}).
     */
    public Optional<String> downscriptPath() {
        return downscript instanceof ScriptOption.Run run ? Optional.of(run.path()) : Optional.empty();
    }

    /** The option string form (for logs and {@code query-netdev}-like reports). */
    public String toOptionString() {
        Map<String, String> out = new LinkedHashMap<>();
        out.put("id", id);
        ifname.ifPresent(x -> out.put("ifname", x));
        fd.ifPresent(x -> out.put("fd", x));
        if (!fds.isEmpty()) {
            out.put("fds", String.join(":", fds));
        }
        if (script.given()) {
            out.put("script", script.optionValue());
        }
        if (downscript.given()) {
            out.put("downscript", downscript.optionValue());
        }
        helper.ifPresent(x -> out.put("helper", x));
        vnetHdrOption.ifPresent(x -> out.put("vnet_hdr", onOff(x)));
        vhost.ifPresent(x -> out.put("vhost", onOff(x)));
        vhostfd.ifPresent(x -> out.put("vhostfd", x));
        if (!vhostfds.isEmpty()) {
            out.put("vhostfds", String.join(":", vhostfds));
        }
        vhostforce.ifPresent(x -> out.put("vhostforce", onOff(x)));
        queues.ifPresent(x -> out.put("queues", Integer.toString(x)));
        pollUs.ifPresent(x -> out.put("poll-us", Long.toString(x)));
        if (incomingFds) {
            out.put("incoming-fds", "on");
        }
        localMigrationSupportedOption.ifPresent(x -> out.put(LOCAL_MIGRATION_SUPPORTED, onOff(x)));
        if (downscriptDutyExtension) {
            out.put(X_DOWNSCRIPT_DUTY, "on");
        }
        StringBuilder sb = new StringBuilder(TYPE);
        out.forEach((k, val) -> sb.append(',').append(k).append('=').append(val.replace(",", ",,")));
        return sb.toString();
    }

    static String onOff(boolean b) {
        return b ? "on" : "off";
    }

    /** For documentation and error hints: the accepted names, sorted. */
    public static String optionNamesSorted() {
        return OptionValues.sortedNames(Set.copyOf(OPTION_NAMES));
    }
}
