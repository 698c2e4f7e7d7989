package dev.livetap.fleet.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The role a certificate's subject carries, and what each role may do (no certificates needed: subjects only). */
class FleetRoleTest {
    @Test
    void theSubjectsOrganizationalUnitNamesTheRole() {
        assertEquals(FleetRole.READ, FleetRole.ofSubject("CN=alice,OU=livetap-read"));
        assertEquals(FleetRole.OPERATE, FleetRole.ofSubject("OU=livetap-operate,CN=bob"));
        assertEquals(FleetRole.MEMBER, FleetRole.ofSubject("CN=node1"), "no role OU: a member (nodes, old certificates)");
        assertEquals(FleetRole.MEMBER, FleetRole.ofSubject("CN=node1,OU=storage,O=example"), "other OUs are not livetap's");
        assertEquals(FleetRole.READ, FleetRole.ofSubject("CN=a,OU=livetap-read,OU=livetap-read"));
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> FleetRole.ofSubject("CN=eve,OU=livetap-admin"));
        assertTrue(unknown.getMessage().contains("unknown role OU=livetap-admin"), unknown.getMessage());
        IllegalArgumentException two = assertThrows(IllegalArgumentException.class,
                () -> FleetRole.ofSubject("CN=eve,OU=livetap-read,OU=livetap-operate"));
        assertTrue(two.getMessage().contains("two roles"), two.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FleetRole.ofSubject("not a name"));
        assertEquals("alice", FleetRole.commonName("CN=alice,OU=livetap-read"));
    }

    @Test
    void readMayOnlyReadAndNeverJoinTheCluster() {
        for (FleetRole.Command c : FleetRole.Command.values()) {
            assertEquals(!c.acts(), FleetRole.READ.allows(c), c.name());
            assertTrue(FleetRole.OPERATE.allows(c), c.name());
            assertTrue(FleetRole.MEMBER.allows(c), c.name());
        }
        assertFalse(FleetRole.READ.allows(FleetRole.Command.START));
        assertTrue(FleetRole.READ.allows(FleetRole.Command.PLAN_PREVIEW));
        assertFalse(FleetRole.READ.mayJoinCluster());
        assertTrue(FleetRole.OPERATE.mayJoinCluster() && FleetRole.MEMBER.mayJoinCluster());
        Optional<String> why = FleetRole.READ.refusal(FleetRole.Command.ABORT, "alice");
        assertEquals(Optional.of("alice has the role read, which may not abort (it needs a certificate with OU=livetap-operate "
                + "or a member's)"), why);
        assertFalse(why.get().contains("\n"), "one line");
        assertEquals(Optional.empty(), FleetRole.OPERATE.refusal(FleetRole.Command.ABORT, "bob"));
    }
}
