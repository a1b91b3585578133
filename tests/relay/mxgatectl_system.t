#!/usr/bin/perl
# mxgatectl_system.t — `mxgatectl reboot`, `poweroff`, `factory-reset` and `shell` on the
# host: each is audited (power before it acts: afterwards there may be no
# afterwards), runs exactly the program it names ($MXGATECTL_POWER here,
# /sbin/reboot or /sbin/poweroff on the appliance), and a failure is said
# and audited; the shell's entry and exit, with its status, are audited;
# factory-reset wants its word typed, leaves its mark and reboots.
use strict;
use warnings;
use Test::More;
use MxTest;

my $ctl = bin('mxgatectl');
my $dir = tmpdir();
write_file("$dir/mxgate.conf", "hostname mx.example.test\nlisten 127.0.0.1:2525\n"
    . "route example.test 127.0.0.1:2526\nqueue $dir/queue\n");
my $audit = "$dir/audit.log";
write_file("$dir/power", "#!/bin/sh\necho \"\$1\" >>$dir/power.log\n");
chmod 0755, "$dir/power";
write_file("$dir/broken", "#!/bin/sh\nexit 3\n");
chmod 0755, "$dir/broken";
sub ctl { run('env', @_) }

my ($rc, $out, $err) = ctl("MXGATECTL_POWER=$dir/power", $ctl, '-f',
    "$dir/mxgate.conf", '-a', $audit, 'reboot');
is($rc, 0, 'mxgatectl reboot');
is(read_file("$dir/power.log"), "reboot\n", '... ran the power program with "reboot"');
($rc) = ctl("MXGATECTL_POWER=$dir/power", $ctl, '-f', "$dir/mxgate.conf",
    '-a', $audit, 'poweroff');
is($rc, 0, 'mxgatectl poweroff');
is(read_file("$dir/power.log"), "reboot\npoweroff\n", '... with "poweroff"');
($rc, $out, $err) = ctl("MXGATECTL_POWER=$dir/broken", $ctl, '-f',
    "$dir/mxgate.conf", '-a', $audit, 'reboot');
is($rc, 111, 'a power program that fails: exit 111');
like($err, qr/reboot failed \(status 3\)/, '... and says so');
($rc) = ctl($ctl, '-f', "$dir/mxgate.conf", '-a', $audit, 'reboot', 'now');
is($rc, 100, 'reboot takes no argument');
my $a = read_file($audit) // '';
like($a, qr/op=reboot arg=- result=requested .*\n.*op=poweroff arg=- result=requested .*\n.*op=reboot arg=- result=requested .*\n.*op=reboot arg=- result=failed /,
    'each is audited before it acts, a failure after');

($rc, $out, $err) = run('sh', '-c', "echo 'echo in the shell; exit 3' | "
    . "SHELL=/bin/sh $ctl -f $dir/mxgate.conf -a $audit shell");
is($rc, 0, 'mxgatectl shell');
like($out, qr/^in the shell$/m, '... ran the shell');
like($err, qr/the maintenance shell/, '... with a warning');
$a = read_file($audit) // '';
like($a, qr/op=shell\.enter arg=\/bin\/sh result=ok .*\n.*op=shell\.exit arg=\/bin\/sh result=status=3 /,
    'its entry and exit, with the status, are audited');

# factory-reset: said what is lost, the word typed, a mark beside the
# audit log (init/init erases at the next boot), audited, then reboot
unlink "$dir/power.log";
($rc, $out, $err) = run('sh', '-c', "echo factory | MXGATECTL_POWER=$dir/power "
    . "$ctl -f $dir/mxgate.conf -a $audit factory-reset");
is($rc, 100, 'factory-reset without the word typed: refused');
like($out, qr/erases the data partition: .*outage queue with every message .*type factory-reset to go on: \nnothing erased/s,
    '... after saying what would be lost');
ok(!-e "$dir/.factory-reset" && !-e "$dir/power.log", '... no mark, no reboot');
($rc, $out, $err) = run('sh', '-c', "echo factory-reset | SUDO_USER=alice "
    . "MXGATECTL_POWER=$dir/power $ctl -f $dir/mxgate.conf -a $audit factory-reset");
is($rc, 0, 'factory-reset with the word: exit 0') or diag $err;
like(read_file("$dir/.factory-reset") // '', qr/^requested \S+ by user=root role=root login=alice tty=\S+\n\z/,
    '... the mark says when and by whom');
is(read_file("$dir/power.log"), "reboot\n", '... and the appliance reboots');
$a = read_file($audit) // '';
like($a, qr/op=factory-reset arg=- result=refused: not confirmed .*\n.*op=factory-reset arg=- result=requested: erased at the next boot .*\n.*op=reboot arg=- result=requested/,
    'audited: the refusal, the request, the reboot');
# what init/init runs on the new, empty data partition
unlink $audit;
($rc) = run($ctl, '-a', $audit, 'audit', 'factory-reset-done', 'requested T by user=root');
is($rc, 0, 'audit factory-reset-done (init, after the erase)');
like(read_file($audit) // '', qr/\A\S+ \S+ mxgatectl\[\d+\]: audit: .*op=factory-reset arg=requested T by user=root result=done: data partition erased prev=e3b0c442/,
    '... is the first line of the new trail');

($rc, $out, $err) = run($ctl, '-a', $audit, 'audit', 'verify');
is($rc, 0, 'the audit trail still verifies') or diag $out . $err;
done_testing();
