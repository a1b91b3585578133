#!/usr/bin/perl
# factory_reset.t — `mxgatectl factory-reset` on the real image: a blank
# appliance gets a second account and a file of the admin's; the admin
# types the word; the appliance reboots, init erases the data partition
# (a new filesystem) and says who asked; the appliance is unconfigured
# again, the login is the first boot's (admin without a password, setup
# starting by itself), the other account and the file are gone, and the
# new audit trail begins with the reset and who asked for it.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $tmp = tmpdir();
my $disk = image_copy($tmp, {});
my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => free_port(),
    log => "$tmp/console.log");
ok($vm->expect(qr/UNCONFIGURED/, 300), 'a blank appliance boots unconfigured')
    or BAIL_OUT("console: $tmp/console.log");
ok($vm->login(240), 'admin logs in (out of setup, into the shell)')
    or BAIL_OUT("console: $tmp/console.log");
my $out = $vm->run_cmd('mxgatectl user add bob --no-password; echo keep >/data/home/admin/keepme; '
    . 'mxgatectl user list', 60) // '';
like($out, qr/^bob\s+operator/m, 'state to lose: an operator account, a file');
$out = $vm->run_cmd('echo nope | mxgatectl factory-reset; echo "exit $?"', 60) // '';
like($out, qr/nothing erased\n.*^exit 100/ms, 'without the word: nothing erased');
# from the menu, as the admin (not the shell's root)
$vm->type("exit\r");
ok($vm->expect(qr/choice \[0-9, u\]: /, 60), 'back to the menu');
$vm->type("8\r");
ok($vm->expect(qr/power \[a-c\]: /, 30), 'menu entry 8');
$vm->type("c\r");
ok($vm->expect(qr/# mxgatectl factory-reset\r?\n.*type factory-reset to go on: /s, 30), '... c: factory-reset asks for its word');
$vm->type("factory-reset\r");
ok($vm->expect(qr/factory reset: erasing the data partition \(requested \S+ by user=admin role=admin /, 240),
    'after the reboot init erases the data partition, saying who asked')
    or BAIL_OUT("console: $tmp/console.log");
ok($vm->expect(qr/factory reset: done; this is a first boot again/, 120), '... done');
ok($vm->expect(qr/UNCONFIGURED/, 120), 'unconfigured again');
my $m = $vm->menu_login(240) // '';
like($m, qr/mxgate setup: a few questions/, 'admin logs in without a password and setup starts, as on a first boot')
    or diag("console: $tmp/console.log");
$vm->type("\x04");
ok($vm->expect(qr/choice \[0-9, u\]: /, 60), 'Ctrl-D: the menu');
$vm->type("9\r");
ok($vm->expect(qr/mxgate:\S*# /, 60), 'the maintenance shell');
$out = $vm->run_cmd('mxgatectl user list; ls /data/home/admin; head -n 1 /data/audit.log; mxgatectl audit verify', 60) // '';
unlike($out, qr/^bob\b/m, 'the operator account is gone');
like($out, qr/^admin\s+admin\s+1000\s+no password$/m, '... only the first boot\'s admin is there');
unlike($out, qr/keepme/, 'the admin\'s file is gone');
like($out, qr/audit: uid=0 user=root role=root .*op=factory-reset arg=requested \S+ by user=admin role=admin login=admin \S+ result=done: data partition erased prev=e3b0c442/,
    'the new audit trail begins with the reset and who asked for it') or diag $out;
like($out, qr/chain intact/, '... and verifies');
$vm->type("mxgatectl poweroff\r");
ok($vm->expect(qr/mxgate: poweroff now/, 180), 'clean shutdown');
$vm->wait_exit(60);
done_testing();
