package dev.livetap.fleet.journal;

import dev.livetap.fleet.coordinator.UpgradeCoordinator;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;

/**
 * The upgrade coordinator's rows of the event journal, read with plain JDBC: a record independent of
 * the coordinator's own recovery, for the fault matrix's checks and the tests. The names are quoted
 * lower case, as both H2 (pekko-persistence-jdbc's schema) and PostgreSQL ({@link JournalSchema}) hold them.
 */
public final class CoordinatorJournal {
    private static final String QUERY = "SELECT \"sequence_number\", \"writer\", \"event_ser_id\", \"event_ser_manifest\","
            + " \"event_payload\" FROM \"event_journal\" WHERE \"persistence_id\" = ? ORDER BY \"sequence_number\"";

    private CoordinatorJournal() {
    }

    /** One row: its sequence number, its writer (one per incarnation of the coordinator) and the serialized event. */
    public record Row(long sequenceNumber, String writer, int serializerId, String manifest, byte[] payload) {
        /** The event's class by its simple name (the manifest's last part, e.g. {@code StepStarted}). */
        public String eventName() {
            return manifest.substring(manifest.lastIndexOf('$') + 1);
        }
    }

    /** A row with its event decoded. */
    public record Recorded(long sequenceNumber, String writer, UpgradeCoordinator.Event event) {
    }

    /** The coordinator's rows in sequence order. */
    public static List<Row> rows(String url, String user, String password) throws SQLException {
        List<Row> rows = new ArrayList<>();
        try (Connection c = DriverManager.getConnection(url, user, password);
                PreparedStatement st = c.prepareStatement(QUERY)) {
            st.setString(1, UpgradeCoordinator.PERSISTENCE_ID.id());
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    rows.add(new Row(rs.getLong(1), rs.getString(2), rs.getInt(3), rs.getString(4), rs.getBytes(5)));
                }
            }
        }
        return rows;
    }

    /** The coordinator's rows in sequence order, each event decoded with {@code system}'s serializers (the fleet's own). */
    public static List<Recorded> events(ActorSystem<?> system, String url, String user, String password) throws SQLException {
        Serialization serialization = SerializationExtension.get(Adapter.toClassic(system));
        List<Recorded> events = new ArrayList<>();
        for (Row r : rows(url, user, password)) {
            Object event = serialization.deserialize(r.payload(), r.serializerId(), r.manifest()).get();
            events.add(new Recorded(r.sequenceNumber(), r.writer(), (UpgradeCoordinator.Event) event));
        }
        return events;
    }
}
