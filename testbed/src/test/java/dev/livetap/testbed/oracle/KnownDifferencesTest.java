package dev.livetap.testbed.oracle;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The known-differences table is well formed, and differences are matched and classified as documented. */
class KnownDifferencesTest {
    private static final Pattern QEMU_COMMIT = Pattern.compile("^qemu/qemu [0-9a-f]{12,40} \".+\".*");

    @Test
    void everyEntryNamesAScenarioOfTheSuiteAndEveryCitationIsACommitOrADesignRule() {
        Set<String> names = Scenarios.all().stream().map(Scenario::name).collect(Collectors.toSet());
        KnownDifferences table = KnownDifferences.load();
        assertFalse(table.entries().isEmpty(), "the table ships with the testbed");
        for (KnownDifferences.Entry e : table.entries()) {
            assertTrue(e.scenario().equals("*") || names.contains(e.scenario()), "unknown scenario in " + e);
            if (e.cited()) {
                assertTrue(QEMU_COMMIT.matcher(e.citation()).matches() || e.citation().startsWith("design: "),
                        "a citation is 'qemu/qemu HASH \"subject\"' or 'design: rule': " + e);
            } else {
                assertFalse(e.note() == null || e.note().isBlank(), "an uncited entry says what it is: " + e);
            }
        }
    }

    @Test
    void aDifferenceIsCitedOnlyWhenScenarioFieldAndBothValuesMatchACitedEntry() {
        KnownDifferences table = new KnownDifferences(List.of(
                new KnownDifferences.Entry("*", "end source MIGRATION", "a", "b", "qemu/qemu 0123456789ab \"x\"", ""),
                new KnownDifferences.Entry("s1", "f", "*", "*", "", "known, not justified")));
        Digest.Difference cited = new Digest.Difference("end source MIGRATION", "a", "b");
        assertTrue(table.find("any", cited).map(KnownDifferences.Entry::cited).orElse(false));
        assertEquals(Optional.empty(), table.find("any", new Digest.Difference("end source MIGRATION", "a", "c")),
                "another livetap value is another difference");
        Optional<KnownDifferences.Entry> uncited = table.find("s1", new Digest.Difference("f", "x", "y"));
        assertTrue(uncited.isPresent() && !uncited.get().cited(), "an entry without a citation stays uncited");
        assertEquals(Optional.empty(), table.find("s2", new Digest.Difference("f", "x", "y")));
    }

    @Test
    void compareListsEveryDifferingOrOneSidedFieldInTheOraclesOrder() {
        Digest qemu = new Digest();
        qemu.put("greeting", "g");
        qemu.put("01 vm stop order", "STOP reply");
        qemu.put("end vm process", "alive");
        Digest livetap = new Digest();
        livetap.put("greeting", "g");
        livetap.put("01 vm stop order", "reply");
        livetap.put("02 vm extra", "x");
        assertEquals(List.of(new Digest.Difference("01 vm stop order", "STOP reply", "reply"),
                new Digest.Difference("end vm process", "alive", "(absent)"),
                new Digest.Difference("02 vm extra", "(absent)", "x")), Digest.compare(qemu, livetap));
    }
}
