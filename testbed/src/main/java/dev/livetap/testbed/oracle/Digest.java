package dev.livetap.testbed.oracle;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a control plane depends on in one run of a scenario, as ordered field → value pairs
 * (greeting shape, each reply or error class, events before each reply, run states, MIGRATION
 * statuses, process fate), plus the harness error that cut the run short, if any.
 */
public final class Digest {
    private final Map<String, String> fields = new LinkedHashMap<>();
    private String harnessError;

    void put(String field, String value) {
        fields.put(field, value);
    }

    void harnessError(String error) {
        if (harnessError == null) {
            harnessError = error;
        }
    }

    public Optional<String> harnessError() {
        return Optional.ofNullable(harnessError);
    }

    public Map<String, String> fields() {
        return Collections.unmodifiableMap(fields);
    }

    /** A field whose values differ (or that only one side has: the other is "(absent)"). */
    public record Difference(String field, String qemu, String livetap) { }

    /** Field-by-field comparison, in the oracle's field order, then fields only livetap has. */
    public static List<Difference> compare(Digest qemu, Digest livetap) {
        Set<String> names = new LinkedHashSet<>(qemu.fields.keySet());
        names.addAll(livetap.fields.keySet());
        List<Difference> out = new ArrayList<>();
        for (String name : names) {
            String q = qemu.fields.getOrDefault(name, "(absent)");
            String l = livetap.fields.getOrDefault(name, "(absent)");
            if (!q.equals(l)) {
                out.add(new Difference(name, q, l));
            }
        }
        return out;
    }
}
