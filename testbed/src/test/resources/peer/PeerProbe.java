import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * Run by the system JDK in single-file mode as another user (setpriv): connects to a livetap
 * socket and prints what came back before end of stream: GREETING, EOF, or REFUSED.
 */
public class PeerProbe {
    public static void main(String[] args) throws Exception {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            try {
                ch.connect(UnixDomainSocketAddress.of(args[0]));
            } catch (java.io.IOException e) {
                System.out.println("REFUSED " + e.getMessage());
                return;
            }
            ByteBuffer buf = ByteBuffer.allocate(4096);
            StringBuilder got = new StringBuilder();
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (System.nanoTime() < deadline) {
                buf.clear();
                int n;
                try {
                    n = ch.read(buf);
                } catch (java.io.IOException e) {
                    break; // reset by the server counts as closed
                }
                if (n < 0) {
                    break;
                }
                got.append(new String(buf.array(), 0, n, StandardCharsets.UTF_8));
                if (got.indexOf("QMP") >= 0) {
                    System.out.println("GREETING " + got.toString().trim());
                    return;
                }
            }
            System.out.println("EOF " + got.toString().trim());
        }
    }
}
