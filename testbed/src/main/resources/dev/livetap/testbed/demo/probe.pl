# livetap demo probe writer: runs inside the demo's namespace (ip netns exec), perl-base only.
# Opens its raw socket, waits for a line "go" on stdin (so that its start-up stays outside the held
# freeze; end of input: exits without sending), then sends K ICMP echo requests (identifier ID, sequence 1..K, payload "livetap-probe" + sequence) to
# DST over a raw socket, prints "sent K" once every send() returned, then "answer SEQ" for each
# first reply, and "done" when all K were answered or WAIT_S seconds passed.
use strict;
use warnings;
use Socket;
my ($dst, $k, $id, $wait) = @ARGV;
die "usage: probe.pl DST K ID WAIT_S\n" unless defined $wait;
$| = 1;
socket(my $s, PF_INET, SOCK_RAW, 1) or die "socket: $!\n";
my $to = sockaddr_in(0, inet_aton($dst));
print "ready\n";
my $go = <STDIN>;
exit 0 unless defined $go && $go =~ /^go/;
sub checksum {
    my $d = shift;
    $d .= "\0" if length($d) % 2;
    my $sum = 0;
    $sum += $_ for unpack("n*", $d);
    $sum = ($sum >> 16) + ($sum & 0xffff) while $sum >> 16;
    return ~$sum & 0xffff;
}
for my $seq (1 .. $k) {
    my $m = pack("CCnnn", 8, 0, 0, $id, $seq) . "livetap-probe" . pack("N", $seq);
    substr($m, 2, 2) = pack("n", checksum($m));
    send($s, $m, 0, $to) or die "send: $!\n";
}
print "sent $k\n";
my %seen;
my $end = time + $wait;
my $rin = '';
vec($rin, fileno($s), 1) = 1;
while (keys(%seen) < $k) {
    my $left = $end - time;
    last if $left <= 0;
    my $n = select(my $rout = $rin, undef, undef, $left);
    last if $n <= 0;
    defined(recv($s, my $buf, 2048, 0)) or last;
    my $ihl = (ord($buf) & 15) * 4;
    next if length($buf) < $ihl + 8;
    my ($type, $code, $sum, $rid, $rseq) = unpack("CCnnn", substr($buf, $ihl, 8));
    next unless $type == 0 && $rid == $id && index($buf, "livetap-probe", $ihl) >= 0;
    print "answer $rseq\n" unless $seen{$rseq}++;
}
print "done\n";
