package dev.livetap.testbed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The process table searched by command line, and the {@code --qmp} argument of a {@code livetap vmm} command line. */
class ProcessCensusTest {
    @Test
    void thisProcessIsFoundByItsOwnCommandLine() {
        long self = ProcessHandle.current().pid();
        List<String> mine = ProcessCensus.commandLine(self);
        assertTrue(mine.get(0).endsWith("java"), "the command line starts with the java launcher: " + mine);
        assertTrue(ProcessCensus.processesWhose(mine::equals).contains(self), "the table search finds this JVM");
        assertEquals(mine, ProcessCensus.commandLinesWhere(mine::equals).get(self));
        assertTrue(ProcessCensus.commandName(self).isPresent(), "a live process has a comm name");
    }

    @Test
    void aProcessThatIsGoneHasNoCommandLine() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        assertEquals(List.of(), ProcessCensus.commandLine(p.pid()));
        assertEquals(Optional.empty(), ProcessCensus.commandName(p.pid()));
    }

    @Test
    void theQmpSocketOfAVmmCommandLine() {
        assertEquals(Optional.of("/d/a.qmp"), ProcessCensus.vmmQmpArgument(List.of("java", "-cp", "x", "dev.livetap.engine.vmm.VmmMain",
                "vmm", "--qmp", "/d/a.qmp", "--name", "a")));
        assertEquals(Optional.empty(), ProcessCensus.vmmQmpArgument(List.of("qemu", "--qmp", "/d/a.qmp", "vmm")),
                "a --qmp before vmm is not a livetap vmm's");
        assertEquals(Optional.empty(), ProcessCensus.vmmQmpArgument(List.of("java", "Main", "vmm", "--qmp")), "--qmp without a value");
        assertFalse(ProcessCensus.vmmQmpArgument(List.of()).isPresent(), "a kernel thread's empty command line");
    }
}
