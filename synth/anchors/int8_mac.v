// Behavioural INT8 MAC reference (ANCHORS.md): signed 8x8 product into a 24-bit accumulator.
module int8_mac (
  input  wire              clk,
  input  wire signed [7:0] a,
  input  wire signed [7:0] b,
  output reg  signed [23:0] acc
);
  always @(posedge clk) acc <= acc + a * b;
endmodule
