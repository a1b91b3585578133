#!/usr/bin/perl
# admin_plane.t — the configuration lifecycle on the real image, from the
# console's maintenance shell of a seeded appliance:
#  - a commit changes the firewall at once: a new route's server appears
#    in the loaded nftables ruleset without a reboot;
#  - `config commit --confirm 30` that nobody confirms is undone by itself:
#    the previous revision runs again (a new revision, the route gone from
#    the ruleset) and the audit trail says so (config.confirm-timeout);
#  - a confirmed one stays;
#  - `audit verify` passes, then, after one byte of a middle line of
#    /data/audit.log is changed by hand, fails and names the line after it.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $tmp = tmpdir();
my $disk = image_copy($tmp, {
    'mxgate.conf' => "hostname mx.demo.test\nlisten 0.0.0.0:25\n" .
	"route demo.test 10.0.2.100:25\nqueue /data/queue\n",
    'ntp.conf' => "server none\n" });
my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => free_port(),
    log => "$tmp/console.log");
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'the seeded appliance is ready')
    or BAIL_OUT("console: $tmp/console.log");
ok($vm->login(120), 'admin logs in') or BAIL_OUT("console: $tmp/console.log");
sub cmd { $vm->run_cmd($_[0], $_[1] // 60) // '' }
# the editor: appends the line in $LINE to the file it is given
cmd(q{printf '#!/bin/sh\necho "$LINE" >>"$1"\n' >/tmp/add.sh});

my $out = cmd('nft list ruleset | grep -c "10.0.2.10[12]"; mxgatectl config history | tail -n 1');
like($out, qr/^0$/m, 'before: no rule for 10.0.2.101 or .102');

# a commit that is confirmed: the firewall changes at once and stays
$out = cmd(q{LINE='route one.test 10.0.2.101:2525' EDITOR='sh /tmp/add.sh' mxgatectl config edit && }
    . q{mxgatectl config commit -m one --confirm 60; echo "commit $?"; nft list ruleset | grep "10.0.2.101"}, 120);
like($out, qr/^commit 0$/m, 'commit --confirm 60') or diag $out;
like($out, qr/ip daddr 10\.0\.2\.101 tcp dport 2525 accept/, '... the firewall allows the new server at once, no reboot');
$out = cmd('mxgatectl config confirm; echo "confirm $?"');
like($out, qr/^confirm 0$/m, 'config confirm');

# one that nobody confirms
$out = cmd(q{LINE='route two.test 10.0.2.102:2526' EDITOR='sh /tmp/add.sh' mxgatectl config edit && }
    . q{mxgatectl config commit -m two --confirm 20; echo "commit $?"; nft list ruleset | grep "10.0.2.102"}, 120);
like($out, qr/ip daddr 10\.0\.2\.102 tcp dport 2526 accept/, 'commit --confirm 20: the new server allowed at once');
my $t0 = time;
my $undone = '';
while (time - $t0 < 90) {
	sleep 5;
	$undone = cmd('grep "op=config.confirm-timeout" /data/audit.log; nft list ruleset | grep -c "10.0.2.10[12]"');
	last if $undone =~ /confirm-timeout/;
}
like($undone, qr/user=root role=root .*op=config\.confirm-timeout arg=rev=\d+ result=ok rev=\d+ from=\d+ .*applied/,
    'not confirmed: undone by itself (a new revision, applied), the audit trail says so')
    or diag $undone;
diag(sprintf 'undone %.0f s after the commit (the guard was 20 s)', time - $t0);
like($undone, qr/^1$/m, '... the ruleset again has the confirmed server only');
$out = cmd('nft list ruleset | grep "10.0.2.10[12]"; mxgatectl config show | grep "^route"');
like($out, qr/10\.0\.2\.101/, '... the confirmed change stays');
unlike($out, qr/10\.0\.2\.102/, '... the unconfirmed one is gone from rules and configuration');

# the audit trail: intact, then a byte changed by hand
$out = cmd('mxgatectl audit verify; echo "verify $?"');
like($out, qr/chain intact\n.*^verify 0$/ms, 'audit verify: intact');
# line 3: its first "o" of "op=" becomes "0"
$out = cmd(q{sed -i '3s/ op=/ 0p=/' /data/audit.log; mxgatectl audit verify; echo "verify $?"});
like($out, qr/^audit: line 4: chain broken \(its prev= does not match line 3\)\n.*^verify 1$/ms,
    'one byte of line 3 changed from the shell: verify fails and names line 4') or diag $out;
$vm->type("mxgatectl poweroff\r");
ok($vm->expect(qr/mxgate: poweroff now/, 180), 'clean shutdown');
$vm->wait_exit(60);
done_testing();
