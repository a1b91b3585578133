#!/usr/bin/perl
# firewall.t — `mxgate -F` turns the configuration into the appliance's
# nftables ruleset (SPEC 3.5 item 3): default deny both ways, inbound only
# the SMTP listeners, outbound TCP only to route servers, DNS only to the
# resolvers, NTP only to the NTP servers, the log server (syslog_server)
# only to the forwarder's user (mxlog, uid 110). `nft -c` checks the syntax when
# nft is installed (no rules are loaded).
use strict;
use warnings;
use Test::More;
use MxTest;

my $mx = bin('mxgate');
my $dir = tmpdir();
my $conf = write_file("$dir/fw.conf", <<'CONF');
hostname mx.example.test
listen 0.0.0.0:25
listen [::]:25
route example.test 192.0.2.10:25 192.0.2.11:2525 [2001:db8::10]:25
route .example.org 198.51.100.7:25
resolver 127.0.0.53
ntp 192.0.2.123
syslog_server 192.0.2.77:6514 tls may
CONF
my ($rc, $out, $err) = run($mx, '-F', '-f', $conf);
is($rc, 0, 'mxgate -F exits 0') or diag $err;
like($out, qr/chain input \{\n\t\ttype filter hook input priority 0; policy drop;/,
    'input: default drop');
like($out, qr/chain output \{\n\t\ttype filter hook output priority 0; policy drop;/,
    'output: default drop');
like($out, qr/chain forward \{\n\t\ttype filter hook forward priority 0; policy drop;/,
    'forward: default drop');
like($out, qr/meta nfproto ipv4 tcp dport 25 accept/, 'inbound SMTP (v4)');
like($out, qr/meta nfproto ipv6 tcp dport 25 accept/, 'inbound SMTP (v6)');
my @in = $out =~ /chain input \{(.*?)\n\t\}/s;
unlike($in[0], qr/dport (?:22|80|443|23)\b/, 'no ssh/http/telnet inbound');
for my $dst ('ip daddr 192.0.2.10 tcp dport 25', 'ip daddr 192.0.2.11 tcp dport 2525',
    'ip6 daddr 2001:db8::10 tcp dport 25', 'ip daddr 198.51.100.7 tcp dport 25') {
	like($out, qr/\Q$dst\E accept/, "outbound to route server: $dst");
}
like($out, qr/ip daddr 127\.0\.0\.53 udp dport 53 accept/, 'DNS to the resolver (udp)');
like($out, qr/ip daddr 127\.0\.0\.53 tcp dport 53 accept/, 'DNS to the resolver (tcp)');
like($out, qr/ip daddr 192\.0\.2\.123 udp dport 123 accept/, 'NTP to the NTP server');
like($out, qr/^\t\tmeta skuid 110 ip daddr 192\.0\.2\.77 tcp dport 6514 accept$/m,
    'the log server, for the forwarder\'s user (mxlog) only');
my @outc = $out =~ /chain output \{(.*?)\n\t\}/s;
my @accepts = grep { /daddr/ } split /\n/, $outc[0];
is(scalar @accepts, 14, 'nothing else may leave (4 route servers, 2 DNS, 1 NTP, 1 log server, 6 run-time set rules)');
for my $set (qw(dns4 dns6 ntp4 ntp6)) {
	like($out, qr/^\tset $set \{ type ipv[46]_addr; \}$/m, "run-time set $set declared, empty");
}
is(scalar(grep { /daddr @/ } @accepts), 6, 'six rules use the run-time sets');
like($outc[0], qr/ip daddr \@dns4 udp dport 53 accept/, 'DNS to learnt resolvers (v4 udp)');
like($outc[0], qr/ip daddr \@dns4 tcp dport 53 accept/, 'DNS to learnt resolvers (v4 tcp)');
like($outc[0], qr/ip6 daddr \@dns6 udp dport 53 accept/, 'DNS to learnt resolvers (v6)');
like($outc[0], qr/ip daddr \@ntp4 udp dport 123 accept/, 'NTP to learnt servers (v4)');
like($outc[0], qr/ip6 daddr \@ntp6 udp dport 123 accept/, 'NTP to learnt servers (v6)');

# a bad config is refused, nothing printed
my $bad = write_file("$dir/bad.conf", "listen 0.0.0.0:25\nroute x.test mail.x.test:25\n");
($rc, $out, $err) = run($mx, '-F', '-f', $bad);
is($rc, 1, 'bad config: exit 1');
is($out, '', 'bad config: no ruleset printed');

# the ruleset loads into a kernel, and the run-time sets take the elements
# the appliance's services add (init/fw-allow does the same): in a network
# namespace of this test's own, never the host's firewall
my $ns = "mxfw$$";
my $nft = '/usr/sbin/nft';
ok(-x $nft, 'nft is installed (deps/packages)');
is(system('ip', 'netns', 'add', $ns), 0, "network namespace $ns created");
END { system('ip', 'netns', 'del', $ns) if $ns }
my $f = write_file("$dir/rules.nft", (run($mx, '-F', '-f', $conf))[1]);
my ($nrc, $nout, $nerr) = run($nft, '-c', '-f', $f);
is($nrc, 0, 'nft -c accepts the ruleset') or diag $nerr;
($nrc, $nout, $nerr) = run('ip', 'netns', 'exec', $ns, $nft, '-f', $f);
is($nrc, 0, 'the ruleset loads into the kernel (own namespace)') or diag $nerr;
for my $e (['dns4', '192.0.2.53'], ['dns6', '2001:db8::53'], ['ntp4', '192.0.2.124'],
    ['ntp6', '2001:db8::123']) {
	($nrc, $nout, $nerr) = run('ip', 'netns', 'exec', $ns, $nft, 'add', 'element',
	    'inet', 'mxgate', $e->[0], "{ $e->[1] }");
	is($nrc, 0, "set $e->[0] takes $e->[1]") or diag $nerr;
}
($nrc, $nout, $nerr) = run('ip', 'netns', 'exec', $ns, $nft, 'list', 'set', 'inet', 'mxgate', 'ntp4');
like($nout, qr/elements = \{ 192\.0\.2\.124 \}/, 'the element is there');
done_testing();
