package dev.livetap.engine.qmp;

import java.util.Random;

/**
 * Hostile QMP text for fuzz tests, all drawn from one {@link Random}: well-formed requests with
 * random (often wrongly typed, missing or unknown) arguments, mutations of them, bad request
 * shapes, deep nesting, huge numbers, control bytes and other noise, oversize messages, and
 * commands whose outcome depends on the VM's state.
 */
public final class QmpFuzzInput {
    public static final String[] COMMANDS = {"qmp_capabilities", "query-version", "query-commands", "getfd", "closefd",
        "netdev_add", "netdev_del", "device_add", "device_del", "migrate-set-parameters", "query-migrate-parameters",
        "migrate-set-capabilities", "query-migrate-capabilities", "migrate-incoming", "migrate", "migrate_cancel",
        "query-migrate", "query-status", "stop", "cont", "no-such-command", "", "QUERY-STATUS", "query_status"};
    public static final String[] KEYS = {"id", "type", "ifname", "fd", "fds", "vhostfd", "queues", "incoming-fds", "vnet_hdr",
        "script", "downscript", "uri", "fdname", "capabilities", "enable", "local", "backend-transfer",
        "x-switchover-limit", "downtime-limit", "driver", "netdev", "mac", "mq", "detach", "resume", "exit-on-error",
        "channels", "capability", "state", "x-guest-ip", "", "\u00e9t\u00e9", "a\u0000b"};
    public static final String[] NUMBERS = {"0", "-0", "1", "-1", "256", "257", "4294967296", "9223372036854775807",
        "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890123456789", "1e400", "-1e400",
        "1.5e-400", "0.5", "1E+2", "2.0", "00", "01", "1e", "-", "NaN", "Infinity", "0x10"};
    public static final String NOISE = "{}[]\",:'\\ \t\r\n\u0000\u001b\u007ftrue" + "nul" + "1e9-";

    private final Random rnd;

    public QmpFuzzInput(Random rnd) {
        this.rnd = rnd;
    }

    public String request() {
        StringBuilder sb = new StringBuilder("{\"execute\": ").append(quote(pick(COMMANDS)));
        if (rnd.nextInt(4) != 0) {
            sb.append(", \"arguments\": {");
            int n = rnd.nextInt(5);
            for (int j = 0; j < n; j++) {
                if (j > 0) {
                    sb.append(", ");
                }
                sb.append(quote(pick(KEYS))).append(": ").append(value(3));
            }
            sb.append('}');
        }
        if (rnd.nextBoolean()) {
            sb.append(", \"id\": ").append(value(2));
        }
        return sb.append('}').toString();
    }

    public String badShape() {
        return switch (rnd.nextInt(9)) {
            case 0 -> "[" + value(2) + "]";
            case 1 -> pick(NUMBERS);
            case 2 -> "\"execute\"";
            case 3 -> "{\"arguments\": {}}";
            case 4 -> "{\"execute\": " + value(2) + "}";
            case 5 -> "{\"execute\": \"query-status\", \"arguments\": " + value(2) + "}";
            case 6 -> "{\"exec-oob\": \"query-status\", \"id\": 1}";
            case 7 -> "{\"execute\": \"query-status\", \"execute\": \"stop\", \"" + pick(KEYS) + "\": 1}";
            default -> "{}";
        };
    }

    /** Commands that depend on the VM's state, with plausible arguments (the recording backend answers {}). */
    public String stateCommand() {
        return switch (rnd.nextInt(6)) {
            case 0 -> "{\"execute\": \"migrate\", \"arguments\": {\"uri\": \"unix:/nonexistent/m.sock\"}}";
            case 1 -> "{\"execute\": \"migrate-incoming\", \"arguments\": {\"uri\": \"unix:/nonexistent/i.sock\"}}";
            case 2 -> "{\"execute\": \"cont\"}";
            case 3 -> "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"local\": true, \"x-switchover-limit\": "
                    + pick(NUMBERS) + "}}";
            case 4 -> "{\"execute\": \"migrate-set-capabilities\", \"arguments\": {\"capabilities\": [{\"capability\": "
                    + quote(pick(KEYS)) + ", \"state\": " + value(1) + "}]}}";
            default -> "{\"execute\": \"netdev_add\", \"arguments\": {\"type\": \"tap\", \"id\": \"x\", \"queues\": "
                    + pick(NUMBERS) + "}}";
        };
    }

    public String deep() {
        int n = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 20_000 : 200);
        String open = rnd.nextBoolean() ? "[" : "{\"a\":";
        String close = open.equals("[") ? "]" : "}";
        String inner = open.repeat(n) + "1" + close.repeat(n);
        return rnd.nextBoolean() ? inner
                : "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"local\": " + inner + "}}";
    }

    public String oversize() {
        int n = QmpSession.Settings.DEFAULT_MAX_MESSAGE_BYTES + 1 + rnd.nextInt(4096);
        return "{\"execute\": \"query-status\", \"id\": \"" + "x".repeat(n) + "\"}";
    }

    public String mutate(String s) {
        StringBuilder sb = new StringBuilder(s);
        int edits = 1 + rnd.nextInt(4);
        for (int e = 0; e < edits && sb.length() > 0; e++) {
            int at = rnd.nextInt(sb.length());
            switch (rnd.nextInt(5)) {
                case 0 -> sb.setCharAt(at, (char) rnd.nextInt(256));
                case 1 -> sb.delete(at, Math.min(sb.length(), at + 1 + rnd.nextInt(8)));
                case 2 -> sb.insert(at, NOISE.charAt(rnd.nextInt(NOISE.length())));
                case 3 -> sb.insert(at, sb.substring(at, Math.min(sb.length(), at + 1 + rnd.nextInt(16))));
                default -> sb.setLength(at);
            }
        }
        return sb.toString();
    }

    public String noise(int n) {
        StringBuilder sb = new StringBuilder();
        for (int j = 0; j < n; j++) {
            sb.append(rnd.nextInt(4) == 0 ? (char) rnd.nextInt(0x300) : NOISE.charAt(rnd.nextInt(NOISE.length())));
        }
        return sb.toString();
    }

    public String value(int depth) {
        int k = rnd.nextInt(depth <= 0 ? 6 : 9);
        return switch (k) {
            case 0 -> "null";
            case 1 -> rnd.nextBoolean() ? "true" : "false";
            case 2 -> pick(NUMBERS);
            case 3 -> quote(pick(KEYS));
            case 4 -> quote("s" + rnd.nextInt(1000));
            case 5 -> "\"\\u00" + Integer.toHexString(rnd.nextInt(16)) + "0\\ud800\\\"\"";
            case 6 -> "[" + value(depth - 1) + ", " + value(depth - 1) + "]";
            case 7 -> "{" + quote(pick(KEYS)) + ": " + value(depth - 1) + "}";
            default -> "{\"capability\": " + quote(pick(KEYS)) + ", \"state\": " + value(depth - 1) + "}";
        };
    }

    public String pick(String[] a) {
        return a[rnd.nextInt(a.length)];
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c < 0x20 || c == '"' || c == '\\') {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.append('"').toString();
    }
}
