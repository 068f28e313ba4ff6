// Behavioural INT4 MAC reference (ANCHORS.md): signed 4x4 product into a 16-bit accumulator.
module int4_mac (
  input  wire              clk,
  input  wire signed [3:0] a,
  input  wire signed [3:0] b,
  output reg  signed [15:0] acc
);
  always @(posedge clk) acc <= acc + a * b;
endmodule
