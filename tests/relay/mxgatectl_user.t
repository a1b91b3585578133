#!/usr/bin/perl
# mxgatectl_user.t — personal accounts and roles. On copies of passwd and
# shadow ($MXGATECTL_ETC): `user add` writes one line to each (uid from
# 1000, group mxadmin 200 or mxoper 201, the console menu as shell), the
# password as SHA-512 crypt that the system's crypt(3) accepts; every
# other line is kept byte for byte; a bad name, a duplicate, a short
# password and the deletion of the last admin are refused and change
# nothing; `user passwd` replaces the hash; each action is audited
# without the password. Then a set-uid copy of mxgatectl run by uids that
# are not root: an admin (gid 200) acts and is audited as themselves; an
# operator (gid 201) may read (`user list`) but every change, every
# option and every other command is refused; a uid in neither group is
# refused outright. Last, the consoles' login: a wrong password costs 3 s
# and is audited and counted; root and unknown names never log in (audited
# as UNKNOWN); five failures in a row lock the account out for a while,
# never for good; a success starts the account's shell as the account.
use strict;
use warnings;
use Test::More;
use File::Copy qw(copy);
use MxTest;

need(['root: a set-uid copy of mxgatectl run as other uids', $> == 0]);

my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $etc = "$dir/etc";
mkdir $etc or die;
my $sys_passwd = "root:x:0:0:root:/root:/sbin/nologin\n"
    . "mxgate-smtpd:x:101:101:mxgate SMTP workers:/var/empty:/sbin/nologin\n";
my $sys_shadow = "root:!:1::::::\nmxgate-smtpd:!:1::::::\n";
write_file("$etc/passwd", $sys_passwd);
write_file("$etc/shadow", $sys_shadow);
chmod 0600, "$etc/shadow";
my $audit = "$dir/audit.log";
$ENV{MXGATECTL_ETC} = $etc;

# run mxgatectl with stdin from a string
sub ctl_in {
	my ($in, @args) = @_;
	my $pid = open(my $to, '|-') // die "fork: $!";
	if (!$pid) {
		open(STDERR, '>', "$dir/err") or die;
		open(STDOUT, '>', "$dir/out") or die;
		exec($ctl, '-a', $audit, @args) or die;
	}
	print $to $in;
	close $to;
	return ($? >> 8, read_file("$dir/out") // '', read_file("$dir/err") // '');
}
sub shadow_of {
	my ($name) = @_;
	my ($l) = grep { /^\Q$name\E:/ } split /\n/, read_file("$etc/shadow");
	return (split /:/, $l // '')[1] // '';
}

my ($rc, $out, $err) = ctl_in("correct horse\n", qw(user add alice --role admin));
is($rc, 0, 'user add alice --role admin') or diag $err;
like($out, qr/^alice added: admin, uid 1000$/m, '... uid 1000');
($rc) = ctl_in("battery staple\n", qw(user add bob));
is($rc, 0, 'user add bob (operator by default)');
like(read_file("$etc/passwd"), qr/^\Q$sys_passwd\Ealice:x:1000:200:admin:\/data\/home\/alice:\/usr\/sbin\/mxgate-console\nbob:x:1001:201:operator:\/data\/home\/bob:\/usr\/sbin\/mxgate-console\n\z/,
    'passwd: the system lines kept byte for byte, one line per account');
like(read_file("$etc/shadow"), qr/^\Q$sys_shadow\Ealice:\$6\$[^:]+:\d+:0:99999:7:::\nbob:\$6\$/,
    'shadow: the same, SHA-512 crypt hashes');
is(crypt('correct horse', shadow_of('alice')), shadow_of('alice'),
    'the system crypt(3) accepts alice\'s hash for her password');
isnt(crypt('wrong horse', shadow_of('alice')), shadow_of('alice'), '... and not another');
is((stat "$etc/shadow")[2] & 07777, 0600, 'shadow stays mode 0600');

($rc, $out) = ctl_in('', qw(user list));
like($out, qr/^alice\s+admin\s+1000\s+password set\nbob\s+operator\s+1001\s+password set$/m,
    'user list: name, role, uid, password state');

my $before = read_file("$etc/passwd") . read_file("$etc/shadow");
for my $case (['correct horse\n', [qw(user add alice)], qr/alice exists/, 'a duplicate'],
    ["x\n", [qw(user add carol)], qr/at least 8 characters/, 'a short password'],
    ["whatever1\n", [qw(user add Carol)], qr/usage/, 'an upper-case name'],
    ["whatever1\n", [qw(user add root)], qr/root exists/, 'a system account\'s name'],
    ['', [qw(user del alice)], qr/alice is the last admin/, 'deleting the last admin'],
    ['', [qw(user del mxgate-smtpd)], qr/not a personal account/, 'deleting a system account'],
    ['', [qw(user passwd root)], qr/not a personal account/, 'the password of root']) {
	my ($in, $args, $why, $what) = @$case;
	$in =~ s/\\n/\n/g;
	($rc, $out, $err) = ctl_in($in, @$args);
	is($rc, 100, "$what: refused (exit 100)");
	like($err, $why, "... with the reason");
}
is(read_file("$etc/passwd") . read_file("$etc/shadow"), $before, 'nothing changed by the refusals');

my $old = shadow_of('bob');
($rc) = ctl_in("another secret\n", qw(user passwd bob));
is($rc, 0, 'user passwd bob');
isnt(shadow_of('bob'), $old, '... a new hash');
is(crypt('another secret', shadow_of('bob')), shadow_of('bob'), '... of the new password');
($rc) = ctl_in("third secret\n", qw(user add dave --role admin));
($rc, $out) = ctl_in('', qw(user del alice));
is($rc, 0, 'with a second admin, alice can be deleted');
unlike(read_file("$etc/passwd") . read_file("$etc/shadow"), qr/^alice:/m, '... from both files');

my $trail = read_file($audit);
like($trail, qr/role=root .*op=user\.add arg=alice role=admin result=ok/, 'audited: user.add');
like($trail, qr/op=user\.del arg=alice result=refused: last admin/, 'audited: the refusal');
like($trail, qr/op=user\.passwd arg=bob result=ok/, 'audited: user.passwd');
unlike($trail, qr/horse|staple|secret|\$6\$/, 'no password or hash in the audit trail');

# --- roles through a set-uid copy, as on the appliance -----------------------
my $suid = "$dir/mxgatectl";
copy($ctl, $suid) or die;
chown 0, 0, $suid;
chmod 04755, $suid;
chmod 0755, $dir;
sub as {
	my ($uid, $gid, @args) = @_;
	my $pid = fork // die;
	if (!$pid) {
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>', "$dir/out.$uid") or die;
		open(STDERR, '>', "$dir/err.$uid") or die;
		$) = "$gid $gid";
		$( = $gid;
		$< = $> = $uid;
		exec($suid, @args) or die;
	}
	waitpid($pid, 0);
	return ($? >> 8, read_file("$dir/out.$uid") // '', read_file("$dir/err.$uid") // '');
}

($rc, $out, $err) = as(60002, 200, '-a', $audit, 'user', 'list');
is($rc, 0, 'admin (gid 200, set-uid): user list') or diag $err;
like($out, qr/^bob\s+operator/m, '... reads the accounts ($MXGATECTL_ETC honoured for an admin)');
($rc, $out, $err) = as(60002, 200, '-a', $audit, 'user', 'del', 'bob');
is($rc, 0, 'admin: user del bob (writes as root)') or diag $err;
like(read_file($audit), qr/audit: uid=60002 user=\S+ role=admin .*op=user\.del arg=bob result=ok/,
    'audited as the admin\'s uid and role, not as root');

($rc, $out, $err) = as(60003, 201, 'user', 'list');
is($rc, 0, 'operator (gid 201): user list is allowed') or diag $err;
for my $args ([qw(config commit)], [qw(user add eve)], [qw(user del dave)],
    [qw(queue delete 0001)], [qw(logs search x --dir /)], [qw(shell)],
    [qw(reboot)], ['-f', '/etc/shadow', 'config', 'show'], [qw(mailboxes add a@b.example)]) {
	($rc, $out, $err) = as(60003, 201, @$args);
	is($rc, 100, "operator: '@$args' refused (exit 100)");
	like($err, qr/is an operator: may read/, '... saying what an operator may do');
}
($rc, $out, $err) = as(60004, 100, 'user', 'list');
is($rc, 100, 'a uid in neither group: refused');
like($err, qr/neither an admin \(group mxadmin\) nor an operator/, '... with the reason');
ok(-e "$etc/passwd" && read_file("$etc/passwd") =~ /^dave:/m, 'the refused commands changed nothing');

# --- the consoles' login (getty runs `mxgatectl login`) ------------------------
($rc) = ctl_in("Lena-Password-1\n", qw(user add lena --role operator));
is($rc, 0, 'user add lena');
# her shell, for the test: a program that says who it runs as
my $p = read_file("$etc/passwd");
$p =~ s{^(lena:x:\d+:201:[^:]*):[^:]*:[^:]*$}{$1:$dir:/usr/bin/id}m;
write_file("$etc/passwd", $p);
my $lena_uid = (split /:/, (grep { /^lena:/ } split /\n/, $p)[0])[2];
my $t0 = time;
($rc, $out, $err) = ctl_in("lena\nwrong-1\nlena\nLena-Password-1\n", 'login');
like($out, qr/Login incorrect\n.*login: uid=$lena_uid\(?\S*\)? gid=201\b/s,
    'login: a wrong password, then the right one: her shell runs as her uid and group') or diag "$out$err";
cmp_ok(time - $t0, '>=', 3, '... the failure cost 3 s');
like(read_file($audit), qr/role=root .*op=console\.login-failed arg=lena result=bad password: failure 1/,
    'the failure is audited with its count');
ok(!-s "$etc/faillog" || read_file("$etc/faillog") !~ /^lena /m, 'the success cleared the count');
($rc, $out) = ctl_in("root\nanything\nnobody-here\nmy-password\n", 'login');
is($rc, 1, 'root and an unknown name: no login (exit 1 after the input ends)');
like(read_file($audit), qr/op=console\.login-failed arg=UNKNOWN result=no such account/,
    'audited as UNKNOWN: a password typed as a name is never written');
unlike(read_file($audit), qr/my-password|nobody-here|anything|Lena-Password/, '... no name or password in the trail');
($rc, $out) = ctl_in(join('', map { "lena\nwrong-$_\n" } 1 .. 3), 'login');
($rc, $out) = ctl_in(join('', map { "lena\nwrong-$_\n" } 4 .. 5), 'login');
like(read_file($audit), qr/arg=lena result=bad password: failure 5, locked for 60 s/,
    'five failures in a row: locked for 60 s');
($rc, $out) = ctl_in("lena\nLena-Password-1\n", 'login');
like($out, qr/lena is locked after 5 failed logins; try again in \d+ s/, 'then even the right password is refused');
unlike($out, qr/uid=/, '... no session');
like(read_file($audit), qr/op=console\.login-locked arg=lena result=locked for \d+ s/, '... audited');
# the lock ends by itself: an expired lock (as after the wait) lets her in
my $f = read_file("$etc/faillog");
$f =~ s/^lena (\d+) \d+$/lena $1 1/m;
write_file("$etc/faillog", $f);
($rc, $out) = ctl_in("lena\nLena-Password-1\n", 'login');
like($out, qr/uid=$lena_uid/, 'after the lock expires the right password logs in: no one is locked out for good');
# failures on two consoles at once all count: each is one read-modify-write
# of faillog under the accounts lock
my @kids;
for my $k (1 .. 4) {
	my $pid = open(my $to, '|-') // die "fork: $!";
	if (!$pid) {
		open(STDOUT, '>', '/dev/null');
		open(STDERR, '>', '/dev/null');
		exec($ctl, '-a', $audit, 'login') or die;
	}
	print $to "lena\nwrong-at-once-$k\n";
	push @kids, $to;
}
close $_ for @kids;
like(read_file("$etc/faillog") // '', qr/^lena 4 0$/m, "four failures at once on four consoles: all four counted");
($rc, $out) = ctl_in("lena\nLena-Password-1\n", 'login');
like($out, qr/uid=$lena_uid/, '... (not yet locked: the right password still logs in)');
($rc, $out, $err) = as(60003, 201, 'login');
is($rc, 100, 'an operator cannot run login');

done_testing();
