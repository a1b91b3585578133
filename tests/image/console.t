#!/usr/bin/perl
# console.t — a blank appliance configured on its serial console, as a new
# admin would: no seed at all; the first boot says UNCONFIGURED; the admin
# logs in and setup starts by itself; the answers (with two mistakes,
# refused and asked again) set the password, the name, DHCP, no NTP, one
# customer domain toward the host's smtp-sink (guestfwd 10.0.2.100:25);
# the summary, "yes", the commit applies it at once (the relay starts, the
# firewall is loaded) and the menu comes back. Then a message sent to the
# appliance (hostfwd) reaches the sink, the audit trail holds the setup
# and the commit, and its chain verifies, naming the admin (uid 1000,
# not root). From the menu's users entry an operator account is added;
# the operator logs in, sees the status, and is refused a commit and the
# shell; root cannot log in; the admin's next login wants the new
# password, and the menu powers the appliance off. Prints how long it
# took from power-on to the first relayed message.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $tmp = tmpdir();
my $sinkdir = sink_dir();
my $disk = image_copy($tmp, {});
my ($port, $sinkport) = (free_port(), free_port());
my $sink = start_sink($sinkdir, $sinkport);
my $t0 = time;
my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => $port,
    sink => $sinkport, log => "$tmp/console.log");
ok($vm->expect(qr/UNCONFIGURED: no \/etc\/mxgate\/mxgate\.conf/, 300),
    'a blank appliance says it is unconfigured') or BAIL_OUT("console: $tmp/console.log");
my $m = $vm->menu_login(240) // '';
like($m, qr/mxgate setup: a few questions/, 'the admin logs in: setup starts by itself')
    or BAIL_OUT("console: $tmp/console.log");

# (prompt, answer) in order; every prompt must come
my @dialogue = (
	[qr/set it now\? \(yes\/no; no keeps the current one\) \[yes\]: /, ''],
	[qr/new password: /, 'Console-Test-1'],
	[qr/again: /, 'Console-Test-1'],
	[qr/password of admin changed/, undef],
	[qr/host name \(mx\.example\.com\): /, 'not a name'],
	[qr/'not a name' is not a fully qualified host name: asked again/, undef],
	[qr/host name \(mx\.example\.com\): /, 'mx.demo.test'],
	[qr/IPv4: dhcp or static \[dhcp\]: /, ''],
	[qr/IPv6 address with prefix, or none \[none\]: /, ''],
	[qr/DNS resolvers \(addresses; empty: from DHCP\): /, ''],
	[qr/NTP servers \(names or addresses\), or none \[pool\.ntp\.org\]: /, 'none'],
	[qr/domain: /, 'demo.test'],
	[qr/its servers \(IP\[:PORT\], in order of preference\): /, '10.0.2.100:99999'],
	[qr/is not an IP address with an optional :PORT: asked again/, undef],
	[qr/its servers \(IP\[:PORT\], in order of preference\): /, '10.0.2.100:25'],
	[qr/TLS toward them: none, may, encrypt or verify \[may\]: /, ''],
	[qr/another domain \(empty: done\): /, ''],
	[qr/postmaster address \[postmaster\@demo\.test\]: /, ''],
	[qr/or one address per line\) \[none\]: /, ''],
	[qr/or files CERT KEY \[keep\]: /, ''],
	[qr/or none \[none\]: /, ''],
	[qr/route demo\.test 10\.0\.2\.100:25 tls may/, undef],
	[qr/write this configuration and commit it\? \(yes\/no\): /, 'yes'],
	[qr/choice \[0-9, u\]: /, undef],
);
my $step = 0;
for my $d (@dialogue) {
	$step++;
	my $got = $vm->expect($d->[0], 120);
	ok($got, "setup step $step: " . ($d->[1] // '(seen)')) or do {
		diag("console: $tmp/console.log");
		last;
	};
	$vm->type("$d->[1]\r") if defined $d->[1];
}
my $out = $vm->output;
like($out, qr/config-apply: relay: reload \(SIGHUP\) sent/, 'the commit applied the configuration: relay');
like($out, qr/config-apply: firewall: \S+ loaded/, '... and firewall, at once');

# the first message, through hostfwd -> guest -> guestfwd -> smtp-sink
my ($rc, $swaks, $got);
my $deadline = time + 180;
while (time < $deadline) {
	($rc, $swaks, $got) = relay_through($port, $sinkdir, 'console');
	last if $got;
	sleep 5;
}
ok($got, 'a message sent to the appliance reaches the customer') or diag $swaks;
diag(sprintf 'power-on to the first relayed message: %.0f s (TCG)', time - $t0);

# the audit trail, from the menu's shell entry
$vm->type("9\r");
ok($vm->expect(qr/mxgate:\S*# /, 60), 'the maintenance shell from the menu');
my $au = $vm->run_cmd('mxgatectl audit show; mxgatectl audit verify; echo "verify exit $?"', 60) // '';
like($au, qr/op=setup arg=- result=started/, 'the audit trail: setup started');
like($au, qr/op=setup arg=- result=candidate written/, '... the candidate written');
like($au, qr/op=config\.commit .*result=ok/, '... the commit');
like($au, qr/^verify exit 0/m, '... and its chain verifies');
my $hist = $vm->run_cmd('mxgatectl config history', 60) // '';
like($hist, qr/^\*\s+1\s.*mxgatectl setup/m, 'revision 1 is the setup') or diag $hist;
my $shadow = $vm->run_cmd(q{grep -c '^admin:[$]6[$]' /etc/shadow}, 30) // '';
like($shadow, qr/^1/m, 'the admin account has a password now (SHA-512 crypt)');
like($au, qr/audit: uid=1000 user=admin role=admin .*op=setup/, 'the audit names the person: admin, uid 1000, not root');
my $id = $vm->run_cmd('id -u; ls -l /usr/sbin/mxgatectl; grep -c ":0:0:" /etc/passwd', 30) // '';
like($id, qr/^0\n-rwsr-xr-x .*\n1\n/, 'the maintenance shell is root; mxgatectl is set-uid; uid 0 is root alone')
    or diag $id;
$vm->type("exit\r");
ok($vm->expect(qr/choice \[0-9, u\]: /, 60), 'leaving the shell returns to the menu');

# a personal operator account, from the menu's users entry
$vm->type("u\r");
ok($vm->expect(qr/users \[a-e\]: /, 30), 'menu entry u: users');
$vm->type("c\r");
ok($vm->expect(qr/name: /, 30), '... add an operator: the name');
$vm->type("olga\r");
ok($vm->expect(qr/# mxgatectl user add olga --role operator.*?new password: /s, 30), '... runs mxgatectl user add');
$vm->type("Olga-Reads-9\r");
ok($vm->expect(qr/again: /, 30), '... the password twice');
$vm->type("Olga-Reads-9\r");
ok($vm->expect(qr/olga added: operator, uid 1001/, 30), '... added');
$vm->type("\r");
ok($vm->expect(qr/choice \[0-9, u\]: /, 60), 'back to the menu');
$vm->type("0\r");
ok($vm->expect(qr/login: /, 60), 'log out: back to the login prompt');
$vm->type("olga\r");
ok($vm->expect(qr/Password: /, 60), 'the operator logs in');
$vm->type("Olga-Reads-9\r");
ok($vm->expect(qr/relay: .*?choice \[0-9, u\]: /s, 60), '... the menu with the status line (status is a read)');
$vm->type("3\r");
ok($vm->expect(qr/configuration \[a-i\]: /, 30), 'the operator tries a commit');
$vm->type("d\r");
$vm->expect(qr/why \(one line\): /, 30);
$vm->type("operator was here\r");
ok($vm->expect(qr/olga is an operator: may read.*?\(exit 100\)/s, 30), '... refused, saying what an operator may do');
$vm->type("\r");
$vm->expect(qr/choice \[0-9, u\]: /, 60);
$vm->type("9\r");
ok($vm->expect(qr/olga is an operator: may read/, 30), 'the maintenance shell is refused too');
$vm->expect(qr/choice \[0-9, u\]: /, 60);
$vm->type("0\r");
ok($vm->expect(qr/login: /, 60), 'log out');
$vm->type("root\r");
$vm->expect(qr/Password: /, 30);
$vm->type("anything\r");
ok($vm->expect(qr/Login incorrect/, 60), 'root cannot log in');
# in again with the password setup set, and off through the menu
$vm->expect(qr/login: /, 60);
$vm->type("admin\r");
ok($vm->expect(qr/Password: /, 60), 'the login asks for the password now');
$vm->type("Console-Test-1\r");
ok($vm->expect(qr/choice \[0-9, u\]: /, 60), '... which opens the menu');
$vm->type("7\r");
$vm->expect(qr/audit \[a-b\]: /, 30);
my $from = length $vm->output;
$vm->type("a\r");
$vm->expect(qr/\(exit \d+\)/, 60);
# what `audit show` printed, from its command line to its exit status
my ($trail) = substr($vm->output, $from) =~ /# mxgatectl audit show\r?\n(.*)\(exit \d+\)/s;
$trail //= '';
like($trail, qr/uid=1001 user=olga role=operator .*op=console\.login/, 'the audit trail: the operator\'s login');
like($trail, qr/uid=1001 user=olga role=operator .*op=config arg=commit result=refused: operator/,
    '... the refused commit');
like($trail, qr/uid=1000 user=admin role=admin .*op=user\.add arg=olga role=operator result=ok/,
    '... and who added the operator');
like($trail, qr/op=console\.login-failed arg=UNKNOWN result=no such account/,
    '... and the failed login as root, as UNKNOWN');
$vm->type("\r");
$vm->expect(qr/choice \[0-9, u\]: /, 60);
$vm->type("8\r");
ok($vm->expect(qr/power \[a-c\]: /, 30), 'menu entry 8: power');
$vm->type("b\r");
ok($vm->expect(qr/type poweroff to power off: /, 30), '... asks for the word');
$vm->type("poweroff\r");
ok($vm->expect(qr/# mxgatectl poweroff/, 30), '... and runs mxgatectl poweroff');
ok($vm->expect(qr/mxgate: poweroff now/, 180), 'clean shutdown');
$vm->wait_exit(60);
stop_sink($sink);
done_testing();
