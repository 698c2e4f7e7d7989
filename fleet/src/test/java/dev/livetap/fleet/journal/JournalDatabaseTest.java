package dev.livetap.fleet.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import dev.livetap.fleet.cluster.FleetConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The journal's choice and login: H2 by default, PostgreSQL with a password that never travels on a command line. */
class JournalDatabaseTest {
    private static final String URL = "jdbc:postgresql://127.0.0.1:5432/fleet";

    @TempDir
    Path dir;

    private Path passwordFile(String text, String mode) throws Exception {
        Path f = dir.resolve("pw-" + mode);
        Files.writeString(f, text);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
        return f;
    }

    @Test
    void aPostgresJournalTakesItsPasswordFromAPrivateFileOrTheEnvironmentAndNeverPrintsIt() throws Exception {
        JournalDatabase fromFile = JournalDatabase.postgres(URL, "coordinator", passwordFile("s3cret\nignored\n", "rw-------"), Map.of());
        assertEquals(new JournalCredentials("coordinator", "s3cret"), fromFile.credentials(), "the file's first line");
        assertTrue(fromFile.isPostgres());
        assertFalse(fromFile.toString().contains("s3cret"), fromFile.toString());
        assertFalse(fromFile.credentials().toString().contains("s3cret"), fromFile.credentials().toString());

        JournalDatabase fromEnv = JournalDatabase.postgres(URL, "coordinator", null, Map.of(JournalCredentials.PASSWORD_ENV, "env-pw"));
        assertEquals("env-pw", fromEnv.credentials().password());

        Config config = fromFile.applyTo(FleetConfig.singleNode(dir.resolve("unused"))).toConfig();
        assertEquals(URL, config.getString("pekko-persistence-jdbc.shared-databases.slick.db.url"));
        assertEquals("org.postgresql.Driver", config.getString("pekko-persistence-jdbc.shared-databases.slick.db.driver"));
        assertEquals("slick.jdbc.PostgresProfile$", config.getString("pekko-persistence-jdbc.shared-databases.slick.profile"));
        assertEquals("coordinator", config.getString("pekko-persistence-jdbc.shared-databases.slick.db.user"));
        assertEquals("s3cret", config.getString("pekko-persistence-jdbc.shared-databases.slick.db.password"));
    }

    @Test
    void badJournalSettingsAreRefusedWithTheReason() throws Exception {
        IllegalArgumentException readable = assertThrows(IllegalArgumentException.class,
                () -> JournalDatabase.postgres(URL, "c", passwordFile("pw", "rw-r--r--"), Map.of()));
        assertTrue(readable.getMessage().contains("readable by other users"), readable.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JournalDatabase.postgres(URL, "c", passwordFile("", "rw-------"), Map.of()),
                "an empty password file");
        IllegalArgumentException none = assertThrows(IllegalArgumentException.class, () -> JournalDatabase.postgres(URL, "c", null,
                Map.of()));
        assertTrue(none.getMessage().contains(JournalCredentials.PASSWORD_ENV), none.getMessage());
        IllegalArgumentException inUrl = assertThrows(IllegalArgumentException.class, () -> JournalDatabase.postgres(
                URL + "?ssl=true&password=x", "c", null, Map.of(JournalCredentials.PASSWORD_ENV, "p")));
        assertTrue(inUrl.getMessage().contains("must not carry"), inUrl.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JournalDatabase.postgres("jdbc:mysql://h/db", "c", null,
                Map.of(JournalCredentials.PASSWORD_ENV, "p")));
        assertThrows(IllegalArgumentException.class, () -> new FleetConfig("127.0.0.1", 0, List.of(), "jdbc:sqlite:x",
                List.of()), "only H2 and PostgreSQL journals");
    }

    @Test
    void theDefaultJournalIsAnH2FileAndThePostgresDdlHasTheJournalsTables() {
        JournalDatabase h2 = JournalDatabase.h2File(dir.resolve("journal"));
        assertFalse(h2.isPostgres());
        assertEquals(JournalCredentials.H2_DEFAULT, h2.credentials());
        assertEquals("org.h2.Driver", h2.applyTo(FleetConfig.singleNode(dir.resolve("x"))).toConfig()
                .getString("pekko-persistence-jdbc.shared-databases.slick.db.driver"));
        List<String> ddl = JournalSchema.postgresStatements();
        assertEquals(4, ddl.size(), ddl.toString());
        assertTrue(ddl.get(0).startsWith("CREATE TABLE IF NOT EXISTS event_journal"), ddl.get(0));
        assertTrue(ddl.stream().allMatch(s -> s.contains("IF NOT EXISTS")), "every statement may run again");
    }
}
