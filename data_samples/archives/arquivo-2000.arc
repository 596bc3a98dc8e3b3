filedesc://arquivo-2000.arc 0.0.0.0 20000209102030 text/plain 81
1 0 lusomix-sample-crawl
URL IP-address Archive-date Content-type Archive-length

http://www.es-ribadouro.pt/jornal/visita.html 203.0.113.213 20000209102030 text/html 2364
HTTP/1.0 200 OK
Date: Wed, 09 Feb 2000 10:20:30 GMT
Server: Apache/1.3.6 (Unix)
Last-Modified: Wed, 09 Feb 2000 10:20:30 GMT
Content-Type: text/html
Content-Length: 2167
Connection: close

<HTML>
<HEAD>
<TITLE>Jornal da Escola - Visita de estudo a Conímbriga</TITLE>
<META NAME="keywords" CONTENT="www.es-ribadouro.pt">
</HEAD>
<BODY BGCOLOR="#FFFFFF" TEXT="#000000" LINK="#003399" VLINK="#663399">
<CENTER><IMG SRC="/imagens/logo.gif" WIDTH="468" HEIGHT="60" ALT="WWW.ES-RIBADOURO.PT"></CENTER>
<TABLE WIDTH="100%" BORDER="0" CELLPADDING="4" CELLSPACING="0">
<TR>
<TD WIDTH="150" VALIGN="TOP" BGCOLOR="#EEEEEE"><FONT FACE="Arial, Helvetica" SIZE="2">
<A HREF="/inicio.html">Início</A><BR>
<A HREF="/o-municipio.html">O Município</A><BR>
<A HREF="/servicos.html">Serviços</A><BR>
<A HREF="/atendimento.html">Atendimento</A><BR>
<A HREF="/agenda.html">Agenda</A><BR>
<A HREF="/noticias.html">Notícias</A><BR>
<A HREF="/contactos.html">Contactos</A>
</FONT></TD>
<TD VALIGN="TOP"><FONT FACE="Verdana, Arial, Helvetica" SIZE="2">
<H2>Jornal da Escola - Visita de estudo a Conímbriga</H2>
<P>No passado dia 28 de Janeiro, as turmas do 10.º ano fizeram uma visita de estudo às ruínas romanas de Conímbriga, no âmbito da disciplina de História. A viagem de autocarro durou cerca de uma hora e meia e, apesar do frio, ninguém se queixou.
<P>À chegada, os alunos foram recebidos por uma guia do museu monográfico, que explicou como era a vida numa cidade romana há quase dois mil anos. Os mosaicos da Casa dos Repuxos foram o ponto alto da visita: muitos de nós não imaginávamos que estivessem tão bem conservados.
<P>Depois do almoço, feito ao ar livre no parque de merendas, houve tempo para percorrer a muralha e visitar as termas. A professora pediu a cada grupo que tirasse notas e fotografias para um trabalho a apresentar na aula, sobre os aspectos da arquitectura romana que mais nos impressionaram.
<P>A comissão do jornal da escola agradece à direcção executiva e à associação de pais o apoio dado à organização desta actividade, que esperamos repetir no próximo ano lectivo com as turmas do 11.º ano.
</FONT></TD>
</TR>
</TABLE>
<HR>
<CENTER><FONT SIZE="1">&copy; 2000 www.es-ribadouro.pt - Melhor visualizado com Netscape 4 em 800x600<BR>
<A HREF="mailto:webmaster@www.es-ribadouro.pt">webmaster@www.es-ribadouro.pt</A></FONT></CENTER>
</BODY>
</HTML>

http://www.terravista.pt/guincho/1234/index.html 198.51.100.13 20000617184402 text/html 2226
HTTP/1.0 200 OK
Date: Sat, 17 Jun 2000 18:44:02 GMT
Server: Apache/1.3.6 (Unix)
Last-Modified: Sat, 17 Jun 2000 18:44:02 GMT
Content-Type: text/html
Content-Length: 2029
Connection: close

<HTML>
<HEAD>
<TITLE>A minha página na Internet</TITLE>
<META NAME="keywords" CONTENT="www.terravista.pt">
</HEAD>
<BODY BGCOLOR="#FFFFFF" TEXT="#000000" LINK="#003399" VLINK="#663399">
<CENTER><IMG SRC="/imagens/logo.gif" WIDTH="468" HEIGHT="60" ALT="WWW.TERRAVISTA.PT"></CENTER>
<TABLE WIDTH="100%" BORDER="0" CELLPADDING="4" CELLSPACING="0">
<TR>
<TD WIDTH="150" VALIGN="TOP" BGCOLOR="#EEEEEE"><FONT FACE="Arial, Helvetica" SIZE="2">
<A HREF="/inicio.html">Início</A><BR>
<A HREF="/sobre-mim.html">Sobre mim</A><BR>
<A HREF="/arquivo.html">Arquivo</A><BR>
<A HREF="/receitas.html">Receitas</A><BR>
<A HREF="/viagens.html">Viagens</A><BR>
<A HREF="/contacto.html">Contacto</A>
</FONT></TD>
<TD VALIGN="TOP"><FONT FACE="Verdana, Arial, Helvetica" SIZE="2">
<H2>A minha página na Internet</H2>
<P>Olá! Bem-vindo à minha página. Chamo-me Ricardo, tenho vinte e três anos e estou a acabar o curso de Engenharia Electrotécnica no Porto. Criei este cantinho na Internet para partilhar algumas coisas de que gosto e para aprender a fazer páginas em HTML, que é bem mais fácil do que parece.
<P>Nas horas vagas gosto de tocar guitarra, de ir ao cinema e de fazer caminhadas na serra com os meus amigos. No Verão passado fizemos o percurso entre o Gerês e a fronteira com a Galiza e acampámos três noites no meio do mato. Em breve vou pôr aqui as fotografias dessa viagem, logo que consiga digitalizá-las.
<P>Também tenho uma secção de ligações para os sites que visito mais vezes: jornais, rádios e algumas páginas de música portuguesa. Se conheceres outras que valham a pena, manda-me um e-mail, que eu acrescento-as à lista.
<P>Assina o meu livro de visitas antes de saíres! Esta página foi actualizada pela última vez em Junho de 2000 e é melhor vista com uma resolução de 800 por 600.
</FONT></TD>
</TR>
</TABLE>
<HR>
<CENTER><FONT SIZE="1">&copy; 2000 www.terravista.pt - Melhor visualizado com Netscape 4 em 800x600<BR>
<A HREF="mailto:webmaster@www.terravista.pt">webmaster@www.terravista.pt</A></FONT></CENTER>
</BODY>
</HTML>

