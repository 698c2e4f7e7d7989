package dev.livetap.engine.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClass;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.lang.reflect.Constructor;
import java.lang.reflect.Executable;
import java.lang.reflect.Field;
import java.lang.reflect.GenericArrayType;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The public surface of {@code dev.livetap.engine.api} is typed and self-contained: every type a
 * public member takes or returns (generic arguments included) is the package's own, a JDK value
 * type, or one of the few runtime types an embedder shares with livetap (its Pekko ActorSystem
 * and Config, a Pekko Streams Source, a Micrometer registry). No {@code Map}, no {@code Object},
 * no actor protocol, no internal record.
 */
class PublicApiSurfaceTest {
    private static final String API = "dev.livetap.engine.api";
    private static final Set<String> ALLOWED_TYPES = Set.of(
            "org.apache.pekko.actor.typed.ActorSystem", "com.typesafe.config.Config",
            "org.apache.pekko.stream.javadsl.Source", "org.apache.pekko.NotUsed",
            "io.micrometer.core.instrument.MeterRegistry");
    private static final Set<String> ALLOWED_JDK_PACKAGES = Set.of("java.lang", "java.util", "java.util.concurrent",
            "java.time", "java.nio.file");
    private static final Set<String> FORBIDDEN_JDK = Set.of("java.lang.Object", "java.util.Map", "java.lang.Class",
            "java.util.function.Function");
    /** Members every class or record has, whose {@code Object} parameter is Java's own. */
    private static final Set<String> OBJECT_METHODS = Set.of("equals", "hashCode", "toString");

    static List<String> violations(Class<?>... classes) {
        List<String> out = new ArrayList<>();
        for (Class<?> c : classes) {
            if (!Modifier.isPublic(c.getModifiers())) {
                continue;
            }
            if (c.getSuperclass() != Object.class) {
                check(c + " extends", c.getGenericSuperclass(), out);
            }
            for (Type i : c.getGenericInterfaces()) {
                check(c + " implements", i, out);
            }
            for (Field f : c.getDeclaredFields()) {
                if (Modifier.isPublic(f.getModifiers()) || Modifier.isProtected(f.getModifiers())) {
                    check(c.getSimpleName() + "." + f.getName(), f.getGenericType(), out);
                }
            }
            List<Executable> members = new ArrayList<>(List.of(c.getDeclaredMethods()));
            members.addAll(List.of(c.getDeclaredConstructors()));
            for (Executable m : members) {
                if (!(Modifier.isPublic(m.getModifiers()) || Modifier.isProtected(m.getModifiers())) || m.isSynthetic()
                        || (m instanceof Method && OBJECT_METHODS.contains(m.getName()))) {
                    continue;
                }
                String where = c.getSimpleName() + "." + (m instanceof Constructor ? "<init>" : m.getName());
                if (m instanceof Method method) {
                    check(where + " returns", method.getGenericReturnType(), out);
                }
                for (Type p : m.getGenericParameterTypes()) {
                    check(where + " takes", p, out);
                }
            }
        }
        return out;
    }

    private static void check(String where, Type t, List<String> out) {
        if (t == null) {
            return;
        }
        if (t instanceof ParameterizedType p) {
            check(where, p.getRawType(), out);
            for (Type a : p.getActualTypeArguments()) {
                check(where, a, out);
            }
        } else if (t instanceof WildcardType w) {
            for (Type b : w.getUpperBounds()) {
                if (b != Object.class) {
                    check(where, b, out);
                }
            }
            for (Type b : w.getLowerBounds()) {
                check(where, b, out);
            }
        } else if (t instanceof GenericArrayType g) {
            check(where, g.getGenericComponentType(), out);
        } else if (t instanceof TypeVariable<?> v) {
            for (Type b : v.getBounds()) {
                if (b != Object.class) {
                    check(where, b, out);
                }
            }
        } else if (t instanceof Class<?> c) {
            Class<?> e = c;
            while (e.isArray()) {
                e = e.getComponentType();
            }
            if (e.isPrimitive() || allowed(e)) {
                return;
            }
            out.add(where + " " + e.getName());
        }
    }

    private static boolean allowed(Class<?> c) {
        String name = c.getName();
        if (FORBIDDEN_JDK.contains(name)) {
            return false;
        }
        if (c.getPackageName().equals(API) || ALLOWED_TYPES.contains(name)) {
            return true;
        }
        return ALLOWED_JDK_PACKAGES.contains(c.getPackageName());
    }

    @Test
    void everyPublicMemberOfTheApiUsesOnlyTheApisOwnAndJdkValueTypes() {
        JavaClasses api = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages(API);
        Set<String> names = new TreeSet<>();
        List<Class<?>> classes = new ArrayList<>();
        for (JavaClass c : api) {
            if (c.getPackageName().equals(API)) {
                names.add(c.getSimpleName());
                classes.add(c.reflect());
            }
        }
        assertTrue(names.containsAll(Set.of("LivetapEngine", "VirtualMachine", "MigrationHandle", "MigrationOutcome", "VmEvent")),
                "the API classes were imported: " + names);
        List<String> v = violations(classes.toArray(Class<?>[]::new));
        assertEquals(List.of(), v, "types outside the API's vocabulary in its public surface");
    }

    /** A public method taking a Map or returning an internal record, as the old surface did. */
    public static final class LeakyExample {
        public java.util.Map<String, Object> status() {
            return java.util.Map.of();
        }

        public java.util.List<dev.livetap.actors.nic.VirtioNetActor.NicInfo> nics() {
            return java.util.List.of();
        }

        public void ask(java.util.function.Function<org.apache.pekko.actor.typed.ActorRef<String>, String> f) {
        }
    }

    @Test
    void theCheckCatchesMapsInternalRecordsAndActorTypes() {
        List<String> v = violations(LeakyExample.class);
        assertTrue(v.stream().anyMatch(s -> s.contains("java.util.Map")), String.valueOf(v));
        assertTrue(v.stream().anyMatch(s -> s.contains("java.lang.Object")), String.valueOf(v));
        assertTrue(v.stream().anyMatch(s -> s.contains("VirtioNetActor$NicInfo")), String.valueOf(v));
        assertTrue(v.stream().anyMatch(s -> s.contains("org.apache.pekko.actor.typed.ActorRef")), String.valueOf(v));
    }
}
