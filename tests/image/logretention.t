#!/usr/bin/perl
# logretention.t — the appliance's log retention (init/service/logretention
# /run), one pass run by the image's own busybox (its sh, find, touch, mv:
# the applets and options the image has, not the host's) and mxgatectl,
# on a log tree laid out as on /data/log:
#  - a rotated log older than 30 days is sealed into archive/NAME/ with
#    the customer's public key (etc/log-archive-key.pem), keeps its time,
#    opens with the private key byte for byte and not with another, and
#    the clear file is gone; a younger one and "current" stay clear;
#  - without a customer key an appliance key pair is made and used;
#  - log_clear_days and log_retention_days in mxgate.conf move both
#    limits;
#  - an archive older than 400 days is deleted, and the deletion logged;
#    a younger one stays;
#  - its disk guard step ("guard": mxgatectl logs guard) prints the log
#    disk's verdict.
use strict;
use warnings;
use Test::More;
use MxTest;

my $bb = out_dir() . '/image-work/busybox/busybox';
ok(-x $bb, "the image's busybox ($bb; make image)") or BAIL_OUT('no busybox');
my $ctl = bin('mxgatectl');
my $script = "$ENV{MXGATE_TOP}/init/service/logretention/run";
my $dir = tmpdir();
my $bin = "$dir/bin";
mkdir $bin;
for my $a (qw(sh find touch mkdir mv rm cat sleep sed tail grep)) {
	symlink($bb, "$bin/$a") or die "$a: $!";
}
symlink($ctl, "$bin/mxgatectl") or die;

my $log = "$dir/data/log";
my $etc = "$dir/etc";
mkdir "$dir/data"; mkdir $log; mkdir "$log/mxgate"; mkdir $etc;
mkdir "$log/archive"; mkdir "$log/archive/mxgate";
my $day = 86400;
my $t_old = time - 40 * $day;
my $old = "$log/mxgate/\@4000000067000000aaaaaaaa.s";
my $young = "$log/mxgate/\@4000000067100000aaaaaaaa.s";
my $text = join('', map { "2026-01-0${_}T00:00:00+00:00 mx mxgate/smtpd[1]: line $_\n" } 1 .. 5);
write_file($old, $text);
write_file($young, "young\n");
write_file("$log/mxgate/current", "current\n");
utime($t_old, $t_old, $old);
utime(time - 5 * $day, time - 5 * $day, $young);
# archives from earlier passes: one past 400 days, one not
write_file("$log/archive/mxgate/ancient.s.sealed", "x");
utime(time - 401 * $day, time - 401 * $day, "$log/archive/mxgate/ancient.s.sealed");
write_file("$log/archive/mxgate/recent.s.sealed", "x");
utime(time - 399 * $day, time - 399 * $day, "$log/archive/mxgate/recent.s.sealed");

my ($rc) = run($ctl, 'logs', 'keygen', "$dir/customer.pem", "$etc/log-archive-key.pem");
is($rc, 0, 'the customer made a key pair (mxgatectl logs keygen)');

sub retention_pass {
	return run('env', "PATH=$bin", "LOG_DIR=$log", "ETC_DIR=$etc",
	    "MXGATECTL=$bin/mxgatectl", "$bin/sh", $script, 'once');
}
my $out;
($rc, $out) = retention_pass();
is($rc, 0, 'one pass of the retention, under busybox') or diag $out;
my $arch = "$log/archive/mxgate/\@4000000067000000aaaaaaaa.s.sealed";
ok(-f $arch, 'the 40-day-old log is sealed into archive/mxgate/') or diag $out;
ok(!-e $old, '... and its clear text is gone');
like($out, qr/^sealed \Q$old\E into \Q$arch\E$/m, '... which the pass logs');
is((stat $arch)[9], $t_old, '... the archive keeps the log\'s time');
is((stat $arch)[2] & 0777, 0600, '... mode 0600');
ok(-f $young && -f "$log/mxgate/current", 'a 5-day-old log and current stay clear');
unlike(read_file($arch) // '', qr/line 1/, 'the archive holds no clear text');
($rc) = run($ctl, 'logs', 'open', $arch, "$dir/opened", '--key', "$dir/customer.pem");
is($rc, 0, 'it opens with the customer\'s private key');
is(read_file("$dir/opened"), $text, '... byte for byte');
run($ctl, 'logs', 'keygen', "$dir/other.pem", "$dir/other.pub");
($rc) = run($ctl, 'logs', 'open', $arch, "$dir/opened2", '--key', "$dir/other.pem");
isnt($rc, 0, '... and not with another key');
ok(!-e "$log/archive/mxgate/ancient.s.sealed", 'an archive past 400 days is deleted');
like($out, qr/^deleted \Q$log\E\/archive\/mxgate\/ancient\.s\.sealed: older than 400 days$/m,
    '... and the deletion logged');
ok(-e "$log/archive/mxgate/recent.s.sealed", 'one of 399 days stays');

# no customer key: an appliance key pair, made once
unlink "$etc/log-archive-key.pem";
write_file($young, "young\n");
utime($t_old, $t_old, $young);
($rc, $out) = retention_pass();
ok(-f "$log/.archive-key/public.pem" && -f "$log/.archive-key/private.pem",
    'without a customer key: an appliance key pair') or diag $out;
is((stat "$log/.archive-key/private.pem")[2] & 0777, 0600, '... its private key 0600');
my $arch2 = "$log/archive/mxgate/\@4000000067100000aaaaaaaa.s.sealed";
($rc) = run($ctl, 'logs', 'open', $arch2, "$dir/opened3", '--key',
    "$log/.archive-key/private.pem");
is($rc, 0, '... with which the archive opens');

# the limits from mxgate.conf
write_file("$etc/mxgate.conf", "hostname mx.example.test\nlog_clear_days 10\n" .
    "log_retention_days 200\n");
my $mid = "$log/mxgate/\@4000000067200000aaaaaaaa.s";
write_file($mid, "fifteen days\n");
utime(time - 15 * $day, time - 15 * $day, $mid);
for my $age (150, 250) {
	write_file("$log/archive/mxgate/age$age.s.sealed", "x");
	utime(time - $age * $day, time - $age * $day,
	    "$log/archive/mxgate/age$age.s.sealed");
}
($rc, $out) = retention_pass();
ok(-f "$log/archive/mxgate/\@4000000067200000aaaaaaaa.s.sealed" && !-e $mid,
    'log_clear_days 10: a 15-day-old log is sealed') or diag $out;
ok(!-e "$log/archive/mxgate/age250.s.sealed" &&
    -e "$log/archive/mxgate/age150.s.sealed",
    'log_retention_days 200: an archive of 250 days goes, one of 150 stays');

# the disk guard step, with marks that the test's filesystem is past
# (log_disk_warn 1) and below (log_disk_full 99 on a disk with room)
write_file("$etc/mxgate.conf", "hostname mx.example.test\nlisten 127.0.0.1:2525\n" .
    "route example.test 127.0.0.1:2526\nqueue $dir/queue\nlog_disk_warn 1\n" .
    "log_disk_full 99\n");
($rc, $out) = run('env', "PATH=$bin", "LOG_DIR=$log", "ETC_DIR=$etc",
    "MXGATECTL=$bin/mxgatectl", 'CONSOLES=', "$bin/sh", $script, 'guard');
is($rc, 0, 'the guard step, under busybox') or diag $out;
like($out, qr/^log disk \Q$log\E \d+% used: (above the high-water mark|full) \(warn 1%, full 99%, log_full_policy tempfail\)/m,
    '... prints the verdict of mxgatectl logs guard') or diag $out;
done_testing();
