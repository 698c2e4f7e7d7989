package dev.livetap.actors;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.fields;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.base.DescribedPredicate;
import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.domain.JavaField;
import com.tngtech.archunit.core.domain.JavaModifier;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchCondition;
import com.tngtech.archunit.lang.ConditionEvents;
import com.tngtech.archunit.lang.SimpleConditionEvent;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.junit.jupiter.api.Test;

/**
 * The state machines keep their state in the records their behaviours carry (issue 15): no field
 * that can change, and no field of a type whose content can change. Add a state machine here (with
 * its state-record holders) once it is written that way.
 */
class StateMachineRulesTest {

    /** Each class and every class nested in it. */
    static final List<String> STATE_MACHINES = List.of(
            "dev.livetap.actors.migration.SourceMigration",
            "dev.livetap.actors.migration.SourceStates",
            "dev.livetap.actors.migration.TargetMigration",
            "dev.livetap.actors.migration.RoleContext",
            "dev.livetap.actors.migration.MigrationEvents",
            "dev.livetap.actors.migration.MigrationCoordinator",
            "dev.livetap.actors.nic.VirtioNetActor",
            "dev.livetap.actors.nic.NicStates",
            "dev.livetap.actors.nic.NicGathers",
            "dev.livetap.actors.FanOut",
            "dev.livetap.actors.vm.VmActor",
            "dev.livetap.actors.vm.VmState",
            "dev.livetap.actors.vm.DeviceTable",
            "dev.livetap.actors.vm.VmDevices",
            "dev.livetap.actors.vm.VmMigrations",
            "dev.livetap.actors.vm.VmNicGathers");

    private static final JavaClasses CLASSES = new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("dev.livetap.actors");

    private static final DescribedPredicate<JavaField> IN_A_STATE_MACHINE = DescribedPredicate.describe(
            "declared in a state machine (not by the compiler)", f -> !f.getModifiers().contains(JavaModifier.SYNTHETIC)
                    && STATE_MACHINES.stream().anyMatch(n -> f.getOwner().getName().equals(n)
                            || f.getOwner().getName().startsWith(n + "$")));

    /**
     * Types whose content changes under a final reference: arrays, collections other than the
     * unmodifiable interfaces the records copy into ({@code List.copyOf}, {@code Map.copyOf}),
     * {@code Atomic*} and other holders.
     */
    private static final ArchCondition<JavaField> OF_AN_IMMUTABLE_TYPE = new ArchCondition<>("be of an immutable type") {
        @Override
        public void check(JavaField field, ConditionEvents events) {
            JavaClass type = field.getRawType();
            String name = type.getName();
            boolean mutable = type.isArray()
                    || name.startsWith("java.util.concurrent.atomic.")
                    || name.startsWith("org.apache.commons.lang3.mutable.")
                    || (!type.isInterface() && (type.isAssignableTo(Collection.class) || type.isAssignableTo(Map.class)))
                    || type.isAssignableTo(StringBuilder.class);
            if (mutable) {
                events.add(SimpleConditionEvent.violated(field, field.getFullName() + " is of the mutable type " + name));
            }
        }
    };

    @Test
    void stateMachineFieldsAreFinal() {
        fields().that(IN_A_STATE_MACHINE).and().areNotStatic()
                .should().haveModifier(JavaModifier.FINAL)
                .because("a state machine's state travels in the records its behaviours carry, never in fields")
                .check(CLASSES);
        fields().that(IN_A_STATE_MACHINE).and().areStatic()
                .should().haveModifier(JavaModifier.FINAL)
                .check(CLASSES);
    }

    @Test
    void stateMachineFieldsAreOfImmutableTypes() {
        fields().that(IN_A_STATE_MACHINE).should(OF_AN_IMMUTABLE_TYPE)
                .because("a final field of a mutable type is a mutable field in disguise")
                .check(CLASSES);
    }

    @Test
    void theRuleSeesTheStateRecords() {
        assertTrue(CLASSES.stream().anyMatch(c -> c.getName().equals("dev.livetap.actors.nic.NicStates$State")),
                "the rule must see the NIC's state record, or it checks nothing");
        assertTrue(CLASSES.stream().anyMatch(c -> c.getName().equals("dev.livetap.actors.migration.SourceStates$SwitchOver")),
                "the rule must see the source role's state records, or it checks nothing");
        assertTrue(CLASSES.stream().anyMatch(c -> c.getName().equals("dev.livetap.actors.vm.VmState")),
                "the rule must see the VM's state record, or it checks nothing");
        assertFalse(CLASSES.stream().filter(c -> STATE_MACHINES.stream().anyMatch(n -> c.getName().equals(n)))
                .toList().size() < STATE_MACHINES.size(), "every listed state machine exists");
    }

    @Test
    void virtioNetActorStashesWithStashBuffer() {
        JavaClass nic = CLASSES.get("dev.livetap.actors.nic.VirtioNetActor");
        assertTrue(nic.getMethodCallsFromSelf().stream().anyMatch(c -> c.getTargetOwner().isAssignableTo(StashBuffer.class)
                        && c.getName().equals("stash")),
                "VirtioNetActor keeps what arrives while a stop is in flight in Pekko's StashBuffer");
        assertTrue(nic.getMethodCallsFromSelf().stream().anyMatch(c -> c.getTargetOwner().isAssignableTo(StashBuffer.class)
                        && c.getName().equals("unstashAll")),
                "VirtioNetActor replays its stash with unstashAll");
    }
}
