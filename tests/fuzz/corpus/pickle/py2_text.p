(lp0
(dp1
S'split'
p2
S'val'
p3
sS'sent'
p4
S'caf\xe9 "q"'
p5
saVx\u4e2d
p6
aI1
aI01
aL12345678901L
aF0.25
aNa.